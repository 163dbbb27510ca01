//! The vocabulary index: `vocab.txt` stays borrowed as it is; a `u32` index built once beside it gives
//! O(1) id → token (line starts) and token → id (an open-addressing hash table keyed by FNV-1a).
//!
//! Index layout, in `u32` words:
//!
//! | words | content |
//! |---|---|
//! | `HEADER_WORDS` | magic, version, vocab bytes, vocab checksum (2 words), token count, slot count, longest token, longest `##` continuation |
//! | token count + 1 | byte offset where each line starts; the last is the vocab length |
//! | 2 × slot count | hash slots: `[fingerprint, id | min(len, 255) << 24]`; `u32::MAX` in the second word marks an empty slot |
//!
//! Tokens are read like HF's `WordPiece::read_file`: split on `\n`, each line `trim_end()`ed, line number = id,
//! and a later duplicate line wins the token → id lookup.

use super::error::VocabError;

const MAGIC: u32 = u32::from_le_bytes(*b"EWPI");
const VERSION: u32 = 1;
pub(crate) const HEADER_WORDS: usize = 9;

const H_MAGIC: usize = 0;
const H_VERSION: usize = 1;
const H_VOCAB_BYTES: usize = 2;
const H_CHECKSUM_LO: usize = 3;
const H_CHECKSUM_HI: usize = 4;
const H_TOKENS: usize = 5;
const H_SLOTS: usize = 6;
const H_MAX_TOKEN_BYTES: usize = 7;
const H_MAX_CONTINUATION_BYTES: usize = 8;

/// Largest token count the 24-bit id field of a slot can hold (0xFFFFFF is reserved for empty slots).
const MAX_TOKENS: usize = 0xFF_FFFE;
const ID_MASK: u32 = 0xFF_FFFF;
const LEN_SHIFT: u32 = 24;
/// Token lengths at or above this are stored as this and read from the line when compared.
const LEN_ESCAPE: usize = 255;
const EMPTY: u32 = u32::MAX;

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

/// Spreads FNV's weak high bits before they pick the slot (murmur3's finalizer).
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

/// 64-bit FNV-1a of the whole vocabulary, to tell an index built from another vocabulary.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

/// Lines as HF's `BufRead::lines` sees them: split on `\n`, no empty last line after a final `\n`.
fn count_lines(vocab: &[u8]) -> usize {
    let newlines = vocab.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(vocab.last().is_some_and(|&b| b != b'\n'))
}

/// Slots for `tokens` entries: load factor at most 1/2, so a miss (the common case while WordPiece looks for the
/// longest match) ends after about 2.5 probes.
fn slot_count(tokens: usize) -> usize {
    tokens * 2 + 1
}

fn words_for(tokens: usize) -> usize {
    HEADER_WORDS + tokens + 1 + 2 * slot_count(tokens)
}

/// Words of `u32` storage [`build_index`] needs for this vocabulary.
pub fn index_len(vocab_txt: &[u8]) -> usize {
    words_for(count_lines(vocab_txt))
}

/// The token on line `id`: the line without its `\n`, `trim_end()`ed (as HF reads it). `None` for a bad id or a
/// line that is not UTF-8.
pub(crate) fn line_token<'a>(vocab: &'a [u8], line_starts: &[u32], id: u32) -> Option<&'a str> {
    let start = *line_starts.get(id as usize)? as usize;
    let mut end = *line_starts.get(id as usize + 1)? as usize;
    if end > start && vocab.get(end - 1) == Some(&b'\n') {
        end -= 1;
    }
    let line = core::str::from_utf8(vocab.get(start..end)?).ok()?;
    Some(line.trim_end())
}

/// Builds the index of `vocab_txt` into `index`, which must be exactly [`index_len`] words long.
pub fn build_index(vocab_txt: &[u8], index: &mut [u32]) -> Result<(), VocabError> {
    let tokens = count_lines(vocab_txt);
    if tokens == 0 {
        return Err(VocabError::Empty);
    }
    if tokens > MAX_TOKENS || u32::try_from(vocab_txt.len()).is_err() {
        return Err(VocabError::TooLarge { bytes: vocab_txt.len(), tokens });
    }
    let expected = words_for(tokens);
    if index.len() != expected {
        return Err(VocabError::IndexSize { expected, actual: index.len() });
    }
    let slots = slot_count(tokens);
    let (header, rest) = index.split_at_mut(HEADER_WORDS);
    let (line_starts, table) = rest.split_at_mut(tokens + 1);
    table.fill(EMPTY);

    // Line starts, checking every line is UTF-8 as HF's reader does.
    let mut start = 0usize;
    for (line_no, slot) in line_starts[..tokens].iter_mut().enumerate() {
        *slot = start as u32;
        let end = vocab_txt[start..].iter().position(|&b| b == b'\n').map_or(vocab_txt.len(), |p| start + p);
        if core::str::from_utf8(&vocab_txt[start..end]).is_err() {
            return Err(VocabError::InvalidUtf8 { line: line_no + 1 });
        }
        start = (end + 1).min(vocab_txt.len());
    }
    line_starts[tokens] = vocab_txt.len() as u32;

    let mut max_token_bytes = 0usize;
    let mut max_continuation_bytes = 0usize;
    for id in 0..tokens as u32 {
        let token = line_token(vocab_txt, line_starts, id).ok_or(VocabError::InvalidUtf8 { line: id as usize + 1 })?;
        let bytes = token.as_bytes();
        max_token_bytes = max_token_bytes.max(bytes.len());
        if let Some(rest) = bytes.strip_prefix(CONTINUATION) {
            max_continuation_bytes = max_continuation_bytes.max(rest.len());
        }
        let view = VocabView { vocab: vocab_txt, line_starts, table, slots: slots as u32 };
        let fingerprint = finish(hash_bytes(HASH_START, bytes));
        let slot = match view.find_slot(fingerprint, bytes) {
            // A duplicate line: the later id wins, as in HF's HashMap.
            SlotSearch::Found(slot) | SlotSearch::Vacant(slot) => slot,
            SlotSearch::Full => return Err(VocabError::TooLarge { bytes: vocab_txt.len(), tokens }),
        };
        table[2 * slot] = fingerprint;
        table[2 * slot + 1] = id | (bytes.len().min(LEN_ESCAPE) as u32) << LEN_SHIFT;
    }

    let sum = checksum(vocab_txt);
    header[H_MAGIC] = MAGIC;
    header[H_VERSION] = VERSION;
    header[H_VOCAB_BYTES] = vocab_txt.len() as u32;
    header[H_CHECKSUM_LO] = sum as u32;
    header[H_CHECKSUM_HI] = (sum >> 32) as u32;
    header[H_TOKENS] = tokens as u32;
    header[H_SLOTS] = slots as u32;
    header[H_MAX_TOKEN_BYTES] = max_token_bytes as u32;
    header[H_MAX_CONTINUATION_BYTES] = max_continuation_bytes as u32;
    Ok(())
}

enum SlotSearch {
    Found(usize),
    Vacant(usize),
    Full,
}

/// Borrowed vocabulary + index, with the header already checked.
#[derive(Clone, Copy)]
pub(crate) struct VocabView<'a> {
    pub(crate) vocab: &'a [u8],
    pub(crate) line_starts: &'a [u32],
    table: &'a [u32],
    slots: u32,
}

/// What [`open`] learns from the header.
#[derive(Clone, Copy)]
pub(crate) struct Opened<'a> {
    pub(crate) view: VocabView<'a>,
    pub(crate) tokens: usize,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_continuation_bytes: usize,
}

/// Checks the header of `index` against `vocab` in O(1) (lengths and counts; [`verify_checksum`] reads it all).
pub(crate) fn open<'a>(vocab: &'a [u8], index: &'a [u32]) -> Result<Opened<'a>, VocabError> {
    let header = index.get(..HEADER_WORDS).ok_or(VocabError::IndexFormat)?;
    if header[H_MAGIC] != MAGIC || header[H_VERSION] != VERSION {
        return Err(VocabError::IndexFormat);
    }
    let tokens = header[H_TOKENS] as usize;
    if header[H_VOCAB_BYTES] as usize != vocab.len() || tokens == 0 || tokens > MAX_TOKENS {
        return Err(VocabError::IndexMismatch);
    }
    let expected = words_for(tokens);
    if index.len() != expected {
        return Err(VocabError::IndexSize { expected, actual: index.len() });
    }
    if header[H_SLOTS] as usize != slot_count(tokens) {
        return Err(VocabError::IndexMismatch);
    }
    let (line_starts, table) = index[HEADER_WORDS..].split_at(tokens + 1);
    if line_starts[tokens] as usize != vocab.len() {
        return Err(VocabError::IndexMismatch);
    }
    Ok(Opened {
        view: VocabView { vocab, line_starts, table, slots: header[H_SLOTS] },
        tokens,
        max_token_bytes: header[H_MAX_TOKEN_BYTES] as usize,
        max_continuation_bytes: header[H_MAX_CONTINUATION_BYTES] as usize,
    })
}

/// Whether the checksum stored in `index` matches `vocab` (reads every byte of the vocabulary).
pub(crate) fn verify_checksum(vocab: &[u8], index: &[u32]) -> bool {
    let sum = checksum(vocab);
    index.get(H_CHECKSUM_LO) == Some(&(sum as u32)) && index.get(H_CHECKSUM_HI) == Some(&((sum >> 32) as u32))
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
    /// Whether token `meta` (a slot's second word) is `prefix` followed by `rest`.
    #[inline]
    fn token_is(&self, meta: u32, prefix: &[u8], rest: &[u8]) -> bool {
        let want = prefix.len() + rest.len();
        let stored_len = (meta >> LEN_SHIFT) as usize;
        let id = meta & ID_MASK;
        if stored_len < LEN_ESCAPE {
            if stored_len != want {
                return false;
            }
            let Some(&start) = self.line_starts.get(id as usize) else { return false };
            let start = start as usize;
            match self.vocab.get(start..start + want) {
                Some(bytes) => bytes_eq(&bytes[..prefix.len()], prefix) && bytes_eq(&bytes[prefix.len()..], rest),
                None => false,
            }
        } else {
            match line_token(self.vocab, self.line_starts, id) {
                Some(token) => {
                    let bytes = token.as_bytes();
                    bytes.len() == want && bytes.starts_with(prefix) && bytes[prefix.len()..] == *rest
                }
                None => false,
            }
        }
    }

    #[inline(always)]
    fn home_slot(&self, fingerprint: u32) -> usize {
        ((u64::from(fingerprint) * u64::from(self.slots)) >> 32) as usize
    }

    fn find_slot(&self, fingerprint: u32, bytes: &[u8]) -> SlotSearch {
        let mut slot = self.home_slot(fingerprint);
        for _ in 0..self.slots {
            let (Some(&fp), Some(&meta)) = (self.table.get(2 * slot), self.table.get(2 * slot + 1)) else {
                return SlotSearch::Full;
            };
            if meta == EMPTY {
                return SlotSearch::Vacant(slot);
            }
            if fp == fingerprint && self.token_is(meta, &[], bytes) {
                return SlotSearch::Found(slot);
            }
            slot += 1;
            if slot == self.slots as usize {
                slot = 0;
            }
        }
        SlotSearch::Full
    }

    /// The id of the token `prefix ++ rest`, where `state` is the FNV-1a state after hashing those bytes from
    /// [`HASH_START`]. `prefix` is `##` or empty.
    #[inline]
    pub(crate) fn lookup(&self, state: u32, prefix: &[u8], rest: &[u8]) -> Option<u32> {
        let fingerprint = finish(state);
        let mut slot = self.home_slot(fingerprint);
        // Bounded so that a corrupt index without empty slots cannot loop forever.
        for _ in 0..self.slots {
            let (&fp, &meta) = (self.table.get(2 * slot)?, self.table.get(2 * slot + 1)?);
            if meta == EMPTY {
                return None;
            }
            if fp == fingerprint && self.token_is(meta, prefix, rest) {
                return Some(meta & ID_MASK);
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
