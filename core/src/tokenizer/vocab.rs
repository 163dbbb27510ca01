//! The vocabulary index: `vocab.txt` stays borrowed as it is; a `u32` index built once beside it gives
//! O(1) id → token (line starts) and token → id (a near-minimal perfect hash keyed by FNV-1a, hash-and-displace
//! in the PTHash style).
//!
//! Index layout (format version 2), in `u32` words:
//!
//! | words | content |
//! |---|---|
//! | `HEADER_WORDS` | magic, version, vocab bytes, vocab checksum (2 words), token count, slot count, longest token, longest `##` continuation, bucket count, line block shift, seed, longest chain |
//! | ⌈(token count + 1) / 2^shift⌉ | line starts, part 1: the byte offset of every `2^shift`-th line start (a block base) |
//! | ⌈(token count + 1) / 2⌉ | line starts, part 2: each line start as a `u16` offset from its block base, two a word; entry `token count` is the vocab length |
//! | ⌈bucket count / 2⌉ | pilots: one `u16` per bucket, two a word |
//! | slot count | slots: `id | CHAIN | fingerprint << 24`; [`EMPTY`] marks an unused slot |
//!
//! A token whose finished hash is `h` belongs to a bucket picked by its high bits (see [`Buckets`]); that bucket's pilot `p` sends it to
//! slot `⌊fmix(h ^ key(p, seed)) · slots / 2^32⌋`. The build picks, bucket by bucket (largest first), the smallest
//! pilot that sends all the bucket's tokens to free slots, so every token has a slot of its own and a lookup reads
//! one pilot and (almost always) one slot. The slot's 8-bit fingerprint rejects 255 of 256 misses without touching
//! the vocabulary; a candidate is then compared with its `vocab.txt` line, so a miss never returns a wrong id.
//!
//! Different tokens can share the whole 32-bit hash (FNV-1a collisions are easy to make, and a 100k-token vocab
//! is likely to hold one pair by chance). No pilot can separate those, so the build reserves them consecutive slots
//! (a chain): a slot with [`CHAIN`] set says the next slot holds another token with the same hash.
//!
//! Tokens are read like HF's `WordPiece::read_file`: split on `\n`, each line `trim_end()`ed, line number = id,
//! and a later duplicate line wins the token → id lookup.

use super::error::VocabError;

const MAGIC: u32 = u32::from_le_bytes(*b"EWPI");
/// Version 1 was an open-addressing table at load factor 1/2 (610 KB for BERT's vocab); it is refused.
const VERSION: u32 = 2;
pub(crate) const HEADER_WORDS: usize = 13;

const H_MAGIC: usize = 0;
const H_VERSION: usize = 1;
const H_VOCAB_BYTES: usize = 2;
const H_CHECKSUM_LO: usize = 3;
const H_CHECKSUM_HI: usize = 4;
const H_TOKENS: usize = 5;
pub(crate) const H_SLOTS: usize = 6;
const H_MAX_TOKEN_BYTES: usize = 7;
const H_MAX_CONTINUATION_BYTES: usize = 8;
const H_BUCKETS: usize = 9;
pub(crate) const H_BLOCK_SHIFT: usize = 10;
const H_SEED: usize = 11;
pub(crate) const H_LONGEST_CHAIN: usize = 12;

/// Bits of a slot that hold the token id.
const ID_MASK: u32 = 0x7F_FFFF;
/// Set in a slot whose next slot (wrapping) holds another token with the same 32-bit hash.
pub(crate) const CHAIN: u32 = 0x80_0000;
const FINGERPRINT_SHIFT: u32 = 24;
const FINGERPRINT_MASK: u32 = 0xFF << FINGERPRINT_SHIFT;
/// An unused slot: an id no vocabulary has, no chain, fingerprint 0 (a lookup whose fingerprint is 0 compares the
/// id, finds no such line and moves on).
pub(crate) const EMPTY: u32 = ID_MASK;
/// Largest token count a slot's 23-bit id can hold ([`ID_MASK`] itself is [`EMPTY`]).
const MAX_TOKENS: usize = ID_MASK as usize - 1;

/// Average tokens per bucket (PTHash's λ). Each bucket costs a 16-bit pilot, so 4 tokens a bucket is half a bit a
/// token; with 5 the pilot search at load 0.99 took longer without a real saving (see docs/BENCHMARKS.md).
const TOKENS_PER_BUCKET: usize = 4;
/// One spare slot per this many tokens (load ≈ 0.985). At load 1.0 the last buckets need ~`slots` pilot tries each
/// and can exhaust the 16-bit pilot; 1.5 % spare keeps the last tries near 64 for 2 KB on BERT's vocab.
const SPARE_SLOT_EVERY: usize = 64;
/// At least this many spare slots, whatever the size: repeated lines (a later duplicate wins, as in HF) take runs
/// of consecutive free slots, which a small table with a single spare slot rarely has. 16 slots are 64 bytes; a
/// vocabulary of 960 tokens or more gets at least this many from [`SPARE_SLOT_EVERY`] anyway (BERT's index is
/// unchanged).
const MIN_SPARE_SLOTS: usize = 16;
/// Pilots are `u16`: the search for a bucket stops after this many tries.
const PILOTS: u32 = 1 << 16;
/// Seeds tried before the build gives up; each changes every slot position. Failing even one seed is rare
/// (never seen on BERT's vocab or the property tests' random ones), so 8 failures in a row mean an input the hash
/// cannot handle, reported as [`VocabError::NoPerfectHash`].
const SEEDS: u32 = 8;
/// Line starts are stored in blocks of at most `2^MAX_BLOCK_SHIFT` lines sharing a `u32` base; a smaller block is
/// used only when some block of 64 lines spans more than 64 KiB.
const MAX_BLOCK_SHIFT: u32 = 6;

/// WordPiece's continuation prefix.
pub(crate) const CONTINUATION: &[u8] = b"##";

const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a state before any byte.
pub(crate) const HASH_START: u32 = FNV_OFFSET;
/// FNV-1a state after `##`, so continuation pieces hash without copying the prefix.
pub(crate) const HASH_CONTINUATION: u32 = hash_step(hash_step(FNV_OFFSET, b'#'), b'#');

#[inline(always)]
pub(crate) const fn hash_step(state: u32, byte: u8) -> u32 {
    (state ^ byte as u32).wrapping_mul(FNV_PRIME)
}

/// Spreads FNV's weak high bits (murmur3's finalizer); also the mixer behind slot positions.
#[inline(always)]
fn finish(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

fn hash_bytes(state: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(state, |h, &b| hash_step(h, b))
}

/// `⌊x · n / 2^32⌋`: maps a well-mixed `x` onto `0..n` without a division.
#[inline(always)]
fn fastrange(x: u32, n: u32) -> usize {
    ((u64::from(x) * u64::from(n)) >> 32) as usize
}

/// Buckets are skewed as in PTHash: the lower half of the hash range shares the first [`DENSE_BUCKETS_PERCENT`] %
/// of the buckets, so half the tokens sit in large buckets that are placed first, while the table is still empty,
/// and the small buckets placed last (when free slots are few) are fewer and smaller.
const DENSE_BUCKETS_PERCENT: usize = 25;

/// Bucket count and how many of them are dense.
#[derive(Clone, Copy)]
struct Buckets {
    dense: u32,
    all: u32,
}

impl Buckets {
    fn new(all: usize) -> Self {
        let dense = (all * DENSE_BUCKETS_PERCENT / 100).clamp(1, all);
        Self { dense: dense as u32, all: all as u32 }
    }

    /// The bucket of finished hash `h`. Monotone in `h`, so sorting hashes groups them by bucket. Branch-free:
    /// which half `h` falls in is a coin toss on every lookup.
    #[inline(always)]
    fn of(self, h: u32) -> usize {
        let sparse = h >> 31 == 1;
        let base = if sparse { self.dense } else { 0 };
        let count = if sparse { self.all - self.dense } else { self.dense };
        base as usize + fastrange(h << 1, count)
    }
}

/// The slot pilot `pilot` (with `seed`) gives finished hash `h`. Keys in one bucket share their high bits, so the
/// position is re-mixed from all of `h` rather than read from the bits the bucket used.
#[inline(always)]
fn position(h: u32, pilot: u32, seed: u32, slots: u32) -> usize {
    // (pilot, seed) → key is a bijection (an odd multiplier), so no two pilots share a key.
    let key = (pilot | seed << 16).wrapping_mul(0x9E37_79B1);
    fastrange(finish(h ^ key), slots)
}

#[inline(always)]
fn fingerprint(h: u32) -> u32 {
    h << FINGERPRINT_SHIFT
}

/// 64-bit FNV-1a of the whole vocabulary, to tell an index built from another vocabulary.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

/// Lines as HF's `BufRead::lines` sees them: split on `\n`, no empty last line after a final `\n`.
pub(crate) fn count_lines(vocab: &[u8]) -> usize {
    let newlines = vocab.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(vocab.last().is_some_and(|&b| b != b'\n'))
}

/// Calls `f(i, start)` for the start of every line `i`, then `f(lines, vocab.len())`.
fn for_each_line_start(vocab: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    f(0, 0);
    for (at, _) in vocab.iter().enumerate().filter(|(_, &b)| b == b'\n') {
        if at + 1 < vocab.len() {
            i += 1;
            f(i, at + 1);
        }
    }
    if !vocab.is_empty() {
        f(i + 1, vocab.len());
    }
}

/// The largest block shift (at most [`MAX_BLOCK_SHIFT`]) whose blocks of line starts all fit `u16` offsets.
/// Shift 0 always fits (every offset is 0). One pass over the vocabulary for any real one (64 lines of BERT's
/// vocab span ~500 bytes); a smaller shift fits whenever a larger one does, so the search goes down from the top.
fn block_shift(vocab: &[u8]) -> u32 {
    (1..=MAX_BLOCK_SHIFT)
        .rev()
        .find(|&shift| {
            let mut base = 0;
            let mut fits = true;
            for_each_line_start(vocab, |i, start| {
                if i & ((1 << shift) - 1) == 0 {
                    base = start;
                } else if start - base > usize::from(u16::MAX) {
                    fits = false;
                }
            });
            fits
        })
        .unwrap_or(0)
}

/// Sizes of every part of the index, all functions of the token count, the block shift and the slot count.
#[derive(Clone, Copy)]
struct Shape {
    tokens: usize,
    shift: u32,
    slots: usize,
}

impl Shape {
    /// The shape [`build_index`] writes for `tokens` lines.
    fn for_build(tokens: usize, shift: u32) -> Self {
        Self::with_min_spare(tokens, shift, MIN_SPARE_SLOTS)
    }
    /// With at least `min_spare` spare slots (1: the shape of indexes built before [`MIN_SPARE_SLOTS`]).
    fn with_min_spare(tokens: usize, shift: u32, min_spare: usize) -> Self {
        Self { tokens, shift, slots: tokens + (tokens / SPARE_SLOT_EVERY + 1).max(min_spare) }
    }
    fn slots(self) -> usize {
        self.slots
    }
    fn buckets(self) -> usize {
        self.tokens.div_ceil(TOKENS_PER_BUCKET)
    }
    fn base_words(self) -> usize {
        (self.tokens + 1).div_ceil(1 << self.shift)
    }
    fn offset_words(self) -> usize {
        (self.tokens + 1).div_ceil(2)
    }
    fn pilot_words(self) -> usize {
        self.buckets().div_ceil(2)
    }
    fn words(self) -> usize {
        HEADER_WORDS + self.base_words() + self.offset_words() + self.pilot_words() + self.slots()
    }
}

/// Words of `u32` storage [`build_index`] needs for this vocabulary (reads it once to size the line starts).
pub fn index_len(vocab_txt: &[u8]) -> usize {
    let tokens = count_lines(vocab_txt);
    if tokens == 0 {
        return HEADER_WORDS;
    }
    Shape::for_build(tokens, block_shift(vocab_txt)).words()
}

/// The index's parts, split out of one slice.
struct Parts<T> {
    header: T,
    bases: T,
    offsets: T,
    pilots: T,
    slots: T,
}

fn split(index: &[u32], shape: Shape) -> Parts<&[u32]> {
    let (header, rest) = index.split_at(HEADER_WORDS);
    let (bases, rest) = rest.split_at(shape.base_words());
    let (offsets, rest) = rest.split_at(shape.offset_words());
    let (pilots, slots) = rest.split_at(shape.pilot_words());
    Parts { header, bases, offsets, pilots, slots }
}

fn split_mut(index: &mut [u32], shape: Shape) -> Parts<&mut [u32]> {
    let (header, rest) = index.split_at_mut(HEADER_WORDS);
    let (bases, rest) = rest.split_at_mut(shape.base_words());
    let (offsets, rest) = rest.split_at_mut(shape.offset_words());
    let (pilots, slots) = rest.split_at_mut(shape.pilot_words());
    Parts { header, bases, offsets, pilots, slots }
}

#[inline(always)]
fn half(words: &[u32], i: usize) -> Option<u32> {
    Some((*words.get(i / 2)? >> ((i & 1) * 16)) & 0xFFFF)
}

fn set_half(words: &mut [u32], i: usize, value: u32) {
    if let Some(w) = words.get_mut(i / 2) {
        let shift = (i & 1) * 16;
        *w = (*w & !(0xFFFF << shift)) | (value & 0xFFFF) << shift;
    }
}

/// `char::is_whitespace` for an ASCII byte (`u8::is_ascii_whitespace` leaves out U+000B, which `trim_end` trims).
#[inline(always)]
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// Line starts: id → the bytes of its `vocab.txt` line.
#[derive(Clone, Copy)]
struct Lines<'a> {
    vocab: &'a [u8],
    bases: &'a [u32],
    offsets: &'a [u32],
    shift: u32,
    tokens: usize,
}

impl<'a> Lines<'a> {
    #[inline(always)]
    fn start(&self, i: usize) -> Option<usize> {
        Some(*self.bases.get(i >> self.shift)? as usize + half(self.offsets, i)? as usize)
    }

    /// Line `id` without its `\n`. `None` for a bad id (or a corrupt index).
    #[inline(always)]
    fn line(&self, id: u32) -> Option<&'a [u8]> {
        let id = id as usize;
        if id >= self.tokens {
            return None;
        }
        let start = self.start(id)?;
        let mut end = self.start(id + 1)?;
        if end > start && self.vocab.get(end - 1) == Some(&b'\n') {
            end -= 1;
        }
        self.vocab.get(start..end)
    }

    /// The token on line `id`: the line `trim_end()`ed (as HF reads it). `None` for a bad id or a line that is
    /// not UTF-8.
    fn token(&self, id: u32) -> Option<&'a str> {
        Some(core::str::from_utf8(self.line(id)?).ok()?.trim_end())
    }

    /// Whether token `id` is `prefix` followed by `rest`.
    #[inline]
    fn token_is(&self, id: u32, prefix: &[u8], rest: &[u8]) -> bool {
        let Some(line) = self.line(id) else { return false };
        let want = prefix.len() + rest.len();
        if line.len() == want {
            // The common case: the line is the token, and it ends in an ASCII character that is not whitespace
            // (so `trim_end` would keep it).
            if let Some(&last) = line.last() {
                if last < 0x80 && !is_ascii_space(last) {
                    return bytes_eq(&line[..prefix.len()], prefix) && bytes_eq(&line[prefix.len()..], rest);
                }
            }
        } else if line.len() < want || line.get(want).is_some_and(|&b| b < 0x80 && !is_ascii_space(b)) {
            return false;
        }
        // Rare: trailing whitespace that HF trims, a last character that is not ASCII, or the empty token.
        match core::str::from_utf8(line) {
            Ok(s) => {
                let token = s.trim_end().as_bytes();
                token.len() == want && token[..prefix.len()] == *prefix && token[prefix.len()..] == *rest
            }
            Err(_) => false,
        }
    }
}

/// Builds the index of `vocab_txt` into `index`, which must be exactly [`index_len`] words long. Uses no memory
/// but `index` itself: the slots hold the sorted hashes and the line starts the taken-slot bitmap while the pilots
/// are searched, and both are rewritten afterwards.
pub fn build_index(vocab_txt: &[u8], index: &mut [u32]) -> Result<(), VocabError> {
    build_with(vocab_txt, index, PILOTS, SEEDS, MIN_SPARE_SLOTS)
}

/// [`index_len`] for an index with at least `min_spare` spare slots (tests: the shape of older indexes).
#[cfg(test)]
pub(crate) fn index_len_with_min_spare(vocab_txt: &[u8], min_spare: usize) -> usize {
    Shape::with_min_spare(count_lines(vocab_txt), block_shift(vocab_txt), min_spare).words()
}

/// [`build_index`] with the search bounds and the spare-slot floor as parameters, so that a test can make the
/// search fail or build an index of the older shape.
pub(crate) fn build_with(
    vocab_txt: &[u8],
    index: &mut [u32],
    pilots: u32,
    seeds: u32,
    min_spare: usize,
) -> Result<(), VocabError> {
    let tokens = count_lines(vocab_txt);
    if tokens == 0 {
        return Err(VocabError::Empty);
    }
    if tokens > MAX_TOKENS || u32::try_from(vocab_txt.len()).is_err() {
        return Err(VocabError::TooLarge { bytes: vocab_txt.len(), tokens });
    }
    let shape = Shape::with_min_spare(tokens, block_shift(vocab_txt), min_spare);
    let expected = shape.words();
    if index.len() != expected {
        return Err(VocabError::IndexSize { expected, actual: index.len() });
    }
    let Parts { header, bases, offsets, pilots: pilot_words, slots } = split_mut(index, shape);

    // 1. Every line's finished hash, into the slots (there are more slots than lines), checking UTF-8 as HF does.
    let mut max_token_bytes = 0usize;
    let mut max_continuation_bytes = 0usize;
    let mut start = 0usize;
    for (line_no, slot) in slots[..tokens].iter_mut().enumerate() {
        let end = vocab_txt[start..].iter().position(|&b| b == b'\n').map_or(vocab_txt.len(), |p| start + p);
        let line =
            core::str::from_utf8(&vocab_txt[start..end]).map_err(|_| VocabError::InvalidUtf8 { line: line_no + 1 })?;
        let bytes = line.trim_end().as_bytes();
        max_token_bytes = max_token_bytes.max(bytes.len());
        if let Some(rest) = bytes.strip_prefix(CONTINUATION) {
            max_continuation_bytes = max_continuation_bytes.max(rest.len());
        }
        *slot = finish(hash_bytes(HASH_START, bytes));
        start = (end + 1).min(vocab_txt.len());
    }
    // 2. Sorted, the hashes come grouped by bucket, and equal hashes (duplicate lines, or different tokens that
    //    collide) sit side by side.
    let (hashes, _) = slots.split_at_mut(tokens);
    hashes.sort_unstable();

    // 3. Pilots, with the line-start words as the taken-slot bitmap (⌈slots / 32⌉ words, fewer than half a word a
    //    line, always within the ≥ (tokens + 1) / 2 offset words).
    let slot_count = shape.slots() as u32;
    let bucket_count = shape.buckets() as u32;
    let taken =
        offsets.get_mut(..shape.slots().div_ceil(32)).ok_or(VocabError::TooLarge { bytes: vocab_txt.len(), tokens })?;
    let seed = (0..seeds)
        .find(|&seed| {
            let search = Search { hashes, slots: slot_count, buckets: Buckets::new(shape.buckets()), seed, pilots };
            search.run(pilot_words, taken)
        })
        .ok_or(VocabError::NoPerfectHash { tokens })?;

    // 4. Line starts, then every token into its slot, in line order so that a later duplicate overwrites.
    bases.fill(0);
    offsets.fill(0);
    for_each_line_start(vocab_txt, |i, start| {
        let block = i >> shape.shift;
        if i & ((1 << shape.shift) - 1) == 0 {
            bases[block] = start as u32;
        }
        set_half(offsets, i, (start - bases[block] as usize) as u32);
    });
    slots.fill(EMPTY);
    let lines = Lines { vocab: vocab_txt, bases, offsets, shift: shape.shift, tokens };
    let mut longest_chain = 1u32;
    for id in 0..tokens as u32 {
        let token = lines.token(id).ok_or(VocabError::InvalidUtf8 { line: id as usize + 1 })?;
        let h = finish(hash_bytes(HASH_START, token.as_bytes()));
        let pilot = half(pilot_words, Buckets::new(bucket_count as usize).of(h)).unwrap_or(0);
        let mut slot = position(h, pilot, seed, slot_count);
        // The search reserved as many consecutive slots here as there are lines with this hash, so this ends
        // within them; bounded anyway.
        let mut placed = false;
        for k in 0..tokens as u32 {
            let word = slots[slot];
            if word == EMPTY {
                slots[slot] = id | fingerprint(h);
                if k > 0 {
                    let previous = if slot == 0 { slots.len() - 1 } else { slot - 1 };
                    slots[previous] |= CHAIN;
                }
                longest_chain = longest_chain.max(k + 1);
                placed = true;
                break;
            }
            if lines.token(word & ID_MASK) == Some(token) {
                // A duplicate line: the later id wins, as in HF's HashMap.
                slots[slot] = (word & !ID_MASK) | id;
                placed = true;
                break;
            }
            slot = if slot + 1 == slots.len() { 0 } else { slot + 1 };
        }
        if !placed {
            return Err(VocabError::NoPerfectHash { tokens });
        }
    }

    let sum = checksum(vocab_txt);
    header[H_MAGIC] = MAGIC;
    header[H_VERSION] = VERSION;
    header[H_VOCAB_BYTES] = vocab_txt.len() as u32;
    header[H_CHECKSUM_LO] = sum as u32;
    header[H_CHECKSUM_HI] = (sum >> 32) as u32;
    header[H_TOKENS] = tokens as u32;
    header[H_SLOTS] = slot_count;
    header[H_MAX_TOKEN_BYTES] = max_token_bytes as u32;
    header[H_MAX_CONTINUATION_BYTES] = max_continuation_bytes as u32;
    header[H_BUCKETS] = bucket_count;
    header[H_BLOCK_SHIFT] = shape.shift;
    header[H_SEED] = seed;
    header[H_LONGEST_CHAIN] = longest_chain;
    Ok(())
}

/// The pilot search for one seed over sorted hashes.
struct Search<'h> {
    hashes: &'h [u32],
    slots: u32,
    buckets: Buckets,
    seed: u32,
    pilots: u32,
}

impl Search<'_> {
    /// Finds a pilot for every bucket, largest bucket first (each size class in one pass over the hashes; the
    /// passes are as many as the distinct bucket sizes). `false` if some bucket has no pilot within the bound.
    fn run(&self, pilot_words: &mut [u32], taken: &mut [u32]) -> bool {
        pilot_words.fill(0);
        taken.fill(0);
        let mut size = usize::MAX;
        loop {
            // Place every bucket of `size` hashes, and find the next smaller size present.
            let mut next = 0;
            let mut at = 0;
            while at < self.hashes.len() {
                let bucket = self.buckets.of(self.hashes[at]);
                let len = self.hashes[at..].iter().take_while(|&&h| self.buckets.of(h) == bucket).count();
                let keys = &self.hashes[at..at + len];
                at += len;
                if len == size {
                    match (0..self.pilots).find(|&pilot| self.try_place(keys, pilot, taken)) {
                        Some(pilot) => set_half(pilot_words, bucket, pilot),
                        None => return false,
                    }
                } else if len < size {
                    next = next.max(len);
                }
            }
            if next == 0 {
                return true;
            }
            size = next;
        }
    }

    /// Takes the slots `pilot` gives `keys` (runs of equal hashes take that many consecutive slots) if all are
    /// free; otherwise leaves `taken` as it was.
    fn try_place(&self, keys: &[u32], pilot: u32, taken: &mut [u32]) -> bool {
        let mut done = 0;
        while done < keys.len() {
            let width = run_len(&keys[done..]);
            if !self.mark(keys[done], width, pilot, taken, true) {
                // Free what the earlier runs of this bucket took for this pilot.
                let mut undone = 0;
                while undone < done {
                    let width = run_len(&keys[undone..]);
                    self.mark(keys[undone], width, pilot, taken, false);
                    undone += width;
                }
                return false;
            }
            done += width;
        }
        true
    }

    /// With `take`: takes `width` slots from `h`'s position if all are free (else takes none and returns
    /// `false`). Without: frees them. Tried some million times per build, so no division in here.
    #[inline]
    fn mark(&self, h: u32, width: usize, pilot: u32, taken: &mut [u32], take: bool) -> bool {
        let first = position(h, pilot, self.seed, self.slots);
        let slots = self.slots as usize;
        let next = |slot: usize| if slot + 1 == slots { 0 } else { slot + 1 };
        if take {
            let mut slot = first;
            for _ in 0..width {
                if taken.get(slot / 32).is_none_or(|&w| w & (1 << (slot % 32)) != 0) {
                    return false;
                }
                slot = next(slot);
            }
        }
        let mut slot = first;
        for _ in 0..width {
            if let Some(w) = taken.get_mut(slot / 32) {
                *w ^= 1 << (slot % 32);
            }
            slot = next(slot);
        }
        true
    }
}

/// Length of the run of equal values at the start of `keys` (at least 1 unless `keys` is empty).
#[inline(always)]
fn run_len(keys: &[u32]) -> usize {
    keys.iter().take_while(|&&k| Some(&k) == keys.first()).count()
}

/// Borrowed vocabulary + index, with the header already checked.
#[derive(Clone, Copy)]
pub(crate) struct VocabView<'a> {
    pub(crate) vocab: &'a [u8],
    lines: Lines<'a>,
    pilots: &'a [u32],
    table: &'a [u32],
    slots: u32,
    buckets: Buckets,
    seed: u32,
    longest_chain: u32,
}

/// What [`open`] learns from the header.
#[derive(Clone, Copy)]
pub(crate) struct Opened<'a> {
    pub(crate) view: VocabView<'a>,
    pub(crate) tokens: usize,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_continuation_bytes: usize,
}

/// Checks the header of `index` against `vocab` in O(1): magic and version, every count against the token count,
/// the length, and the last line start against the vocabulary's length ([`verify`] reads it all). What O(1) cannot
/// check (a slot's id, a pilot, a line start) cannot do harm: every read is a `.get()`, a pilot of any value gives
/// a slot in range, chains are bounded by the header's longest chain (at most the token count), and an id is
/// returned only after its `vocab.txt` line compared equal to the token looked up.
pub(crate) fn open<'a>(vocab: &'a [u8], index: &'a [u32]) -> Result<Opened<'a>, VocabError> {
    let header = index.get(..HEADER_WORDS).ok_or(VocabError::IndexFormat)?;
    if header[H_MAGIC] != MAGIC || header[H_VERSION] != VERSION {
        return Err(VocabError::IndexFormat);
    }
    let tokens = header[H_TOKENS] as usize;
    if header[H_VOCAB_BYTES] as usize != vocab.len() || tokens == 0 || tokens > MAX_TOKENS {
        return Err(VocabError::IndexMismatch);
    }
    let shift = header[H_BLOCK_SHIFT];
    if shift > MAX_BLOCK_SHIFT {
        return Err(VocabError::IndexFormat);
    }
    // The slot count is the header's: any count from one spare slot (indexes built before MIN_SPARE_SLOTS, which
    // differ only below 960 tokens) up to what `build_index` gives now reads the same way.
    let slots = header[H_SLOTS] as usize;
    if slots <= tokens || slots > Shape::for_build(tokens, shift).slots() {
        return Err(VocabError::IndexFormat);
    }
    let shape = Shape { tokens, shift, slots };
    let expected = shape.words();
    if index.len() != expected {
        return Err(VocabError::IndexSize { expected, actual: index.len() });
    }
    let longest_chain = header[H_LONGEST_CHAIN];
    if header[H_BUCKETS] as usize != shape.buckets()
        || header[H_SEED] >= SEEDS
        || longest_chain == 0
        || longest_chain as usize > tokens
    {
        return Err(VocabError::IndexFormat);
    }
    let Parts { bases, offsets, pilots, slots, .. } = split(index, shape);
    let lines = Lines { vocab, bases, offsets, shift, tokens };
    if lines.start(tokens) != Some(vocab.len()) {
        return Err(VocabError::IndexMismatch);
    }
    Ok(Opened {
        view: VocabView {
            vocab,
            lines,
            pilots,
            table: slots,
            slots: header[H_SLOTS],
            buckets: Buckets::new(shape.buckets()),
            seed: header[H_SEED],
            longest_chain,
        },
        tokens,
        max_token_bytes: header[H_MAX_TOKEN_BYTES] as usize,
        max_continuation_bytes: header[H_MAX_CONTINUATION_BYTES] as usize,
    })
}

/// Whether `index` (already opened as `view`) matches `vocab` in full: the checksum stored in the index (reads
/// every byte of the vocabulary), and every word of the index: line starts in order and within the vocabulary,
/// every slot empty or holding an id below the token count. O(vocabulary + index).
pub(crate) fn verify(view: &VocabView<'_>, index: &[u32]) -> bool {
    let sum = checksum(view.vocab);
    if index.get(H_CHECKSUM_LO) != Some(&(sum as u32)) || index.get(H_CHECKSUM_HI) != Some(&((sum >> 32) as u32)) {
        return false;
    }
    let lines = &view.lines;
    let mut previous = 0;
    for i in 0..=lines.tokens {
        match lines.start(i) {
            Some(start) if start >= previous && start <= view.vocab.len() => previous = start,
            _ => return false,
        }
    }
    view.table.iter().all(|&word| word == EMPTY || ((word & ID_MASK) as usize) < lines.tokens)
}

/// Equality of two short byte strings, inline: tokens are a few bytes long, and a call into libc's `memcmp` per
/// lookup cost more than the comparison itself.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a8 = a.chunks_exact(8);
    let mut b8 = b.chunks_exact(8);
    for (x, y) in (&mut a8).zip(&mut b8) {
        if u64::from_ne_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]])
            != u64::from_ne_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]])
        {
            return false;
        }
    }
    let (ra, rb) = (a8.remainder(), b8.remainder());
    let mut same = true;
    for i in 0..ra.len() {
        same &= ra[i] == rb[i];
    }
    same
}

impl<'a> VocabView<'a> {
    /// The token on line `id` (as HF reads it), if there is such a line and it is UTF-8.
    pub(crate) fn line_token(&self, id: u32) -> Option<&'a str> {
        self.lines.token(id)
    }

    /// The id of the token `prefix ++ rest`, where `state` is the FNV-1a state after hashing those bytes from
    /// [`HASH_START`]. `prefix` is `##` or empty.
    #[inline]
    pub(crate) fn lookup(&self, state: u32, prefix: &[u8], rest: &[u8]) -> Option<u32> {
        let h = finish(state);
        let pilot = half(self.pilots, self.buckets.of(h))?;
        let mut slot = position(h, pilot, self.seed, self.slots);
        let tag = fingerprint(h);
        // Bounded by the longest chain the build made (1 unless two tokens share their 32-bit hash), so that a
        // corrupt index with chain bits everywhere cannot make a lookup long.
        for _ in 0..self.longest_chain {
            let word = *self.table.get(slot)?;
            if word & FINGERPRINT_MASK == tag && self.lines.token_is(word & ID_MASK, prefix, rest) {
                return Some(word & ID_MASK);
            }
            if word & CHAIN == 0 {
                return None;
            }
            slot += 1;
            if slot == self.slots as usize {
                slot = 0;
            }
        }
        None
    }

    /// The id of `token` (compared whole, `##` included).
    pub(crate) fn token_to_id(&self, token: &str) -> Option<u32> {
        self.lookup(hash_bytes(HASH_START, token.as_bytes()), &[], token.as_bytes())
    }
}
