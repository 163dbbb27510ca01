//! Pre-training examples, built the way ELECTRA's `build_pretraining_dataset.py` (`ExampleBuilder`)
//! builds them.
//!
//! # The recipe
//!
//! Input: documents, each a list of lines. `T` is the sequence length (`--seq-len`).
//!
//! 1. **Sentences.** Every line is split into sentences (see [`split_sentences`]) and each sentence is
//!    tokenized on its own (WordPiece, no special tokens). ELECTRA takes each *line* as a sentence;
//!    splitting further matters for corpora with one paragraph per line (the bundled speeches have
//!    lines of over 1,000 tokens, of which ELECTRA would keep the first `T - 2`). Because sentences
//!    are cut at whitespace, the ids of a document's sentences, concatenated, are exactly the ids of
//!    the whole document.
//! 2. **Long sentences.** A sentence of more than `(T - 3) / 2` tokens (it cannot fit segment A whole)
//!    is cut into pieces of `(T - 3) / 4` tokens, about an ordinary sentence, so a line without
//!    sentence punctuation loses no more to step 5's truncation than ordinary prose does. (ELECTRA:
//!    no such cut.)
//! 3. **Accumulate.** Sentences are appended to the current example until its length reaches the
//!    *target length* (initially `T`); then the example is created (step 4). The end of a document
//!    also creates an example from whatever is accumulated, so an example never spans documents.
//! 4. **Segments.** With probability 0.1 the example has a single segment (A's target is unlimited);
//!    otherwise A's target is `(target - 3) / 2`. Sentences go to A, in order, while A is empty, or
//!    while adding the sentence keeps A under its target, or — with probability 0.5, only while B is
//!    still empty and A is under its target — even when it takes A over it. Every other sentence goes
//!    to B. (ELECTRA also lets a short sentence that follows B's first sentence jump back into A, which
//!    reorders the text; here, once B has started, the rest stays in B, so A and B are two adjacent
//!    stretches of the document.)
//! 5. **Truncate.** A is cut to `T - 2` tokens, then B to `max(0, T - len(A) - 3)`: the overflow of
//!    the sentence that crossed the target is dropped, as in ELECTRA (counted as `dropped_tokens`).
//! 6. **Frame.** `[CLS] A [SEP]`, followed by `B [SEP]` when B is not empty; token type 0 up to and
//!    including the first `[SEP]`, 1 after it. No padding is stored: the reader pads to `T`.
//! 7. **Next target.** With probability 0.05 the next example's target length is uniform in `[5, T]`
//!    (so the model also sees short inputs), otherwise `T`.
//!
//! The random numbers come from a [`Rng`] stream per chunk keyed by (seed, shard, chunk ordinal),
//! and each chunk starts with a fresh builder (target `T`): the examples are a function of the seed
//! and the input, whatever the thread count.

use crate::chunk::{Chunk, ReadStats};
use crate::encode::{EncodeError, Encoder, SpecialTokens};
use crate::rng::Rng;

/// Probability of a single-segment example (ELECTRA: 0.1).
pub const SINGLE_SEGMENT_PROB: f64 = 0.1;
/// Probability that a sentence which takes segment A over its target still goes to A (ELECTRA: 0.5).
pub const OVERFILL_A_PROB: f64 = 0.5;
/// Probability that the next example gets a random, shorter target length (ELECTRA: 0.05).
pub const RANDOM_LENGTH_PROB: f64 = 0.05;
/// Smallest random target length (ELECTRA: 5).
pub const MIN_RANDOM_LENGTH: usize = 5;
/// Smallest sequence length the recipe works with: room for `[CLS] a [SEP] b [SEP]`, and
/// `MIN_RANDOM_LENGTH <= T`.
pub const MIN_SEQ_LEN: usize = 5;

/// Examples in one flat buffer: example `i` is `ids[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Examples {
    pub ids: Vec<u32>,
    /// `offsets[0] == 0`; one more entry than examples.
    pub offsets: Vec<u32>,
    /// Index (within the example) of segment B's first token; the example's length when there is no B.
    pub segment_b_start: Vec<u32>,
}

impl Examples {
    pub fn new() -> Self {
        Examples { ids: Vec::new(), offsets: vec![0], segment_b_start: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.segment_b_start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segment_b_start.is_empty()
    }

    /// Example `i`'s ids (with `[CLS]`/`[SEP]`) and the start of its segment B.
    pub fn get(&self, i: usize) -> (&[u32], usize) {
        (&self.ids[self.offsets[i] as usize..self.offsets[i + 1] as usize], self.segment_b_start[i] as usize)
    }

    fn push(&mut self, cls: u32, sep: u32, a: &[u32], b: &[u32]) {
        let start = self.ids.len();
        self.ids.push(cls);
        self.ids.extend_from_slice(a);
        self.ids.push(sep);
        let b_start = self.ids.len() - start;
        if !b.is_empty() {
            self.ids.extend_from_slice(b);
            self.ids.push(sep);
        }
        let len = self.ids.len() - start;
        self.offsets.push(self.ids.len() as u32);
        self.segment_b_start.push(if b.is_empty() { len as u32 } else { b_start as u32 });
    }
}

/// Counts made while packing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackStats {
    pub sentences: u64,
    /// Ids the tokenizer produced (before framing and truncation).
    pub text_tokens: u64,
    /// `[UNK]` among them.
    pub unk_tokens: u64,
    /// Ids cut by step 5 of the recipe.
    pub dropped_tokens: u64,
}

impl PackStats {
    pub fn add(&mut self, o: &PackStats) {
        self.sentences += o.sentences;
        self.text_tokens += o.text_tokens;
        self.unk_tokens += o.unk_tokens;
        self.dropped_tokens += o.dropped_tokens;
    }
}

/// ELECTRA's `ExampleBuilder`, over token ids.
pub struct ExampleBuilder {
    max_len: usize,
    target_len: usize,
    special: SpecialTokens,
    /// The accumulated sentences, back to back.
    ids: Vec<u32>,
    /// End of each sentence in `ids`.
    sentence_ends: Vec<usize>,
    first: Vec<u32>,
    second: Vec<u32>,
}

impl ExampleBuilder {
    /// `max_len` must be at least [`MIN_SEQ_LEN`].
    pub fn new(max_len: usize, special: SpecialTokens) -> Self {
        ExampleBuilder {
            max_len,
            target_len: max_len,
            special,
            ids: Vec::new(),
            sentence_ends: Vec::new(),
            first: Vec::new(),
            second: Vec::new(),
        }
    }

    /// Steps 2–3: adds one tokenized sentence; creates examples when the target is reached.
    pub fn add_sentence(&mut self, sentence: &[u32], rng: &mut Rng, out: &mut Examples, stats: &mut PackStats) {
        if sentence.is_empty() {
            return;
        }
        let longest_whole = (self.max_len - 3) / 2;
        let piece = ((self.max_len - 3) / 4).max(1);
        if sentence.len() > longest_whole {
            for part in sentence.chunks(piece) {
                self.add_piece(part, rng, out, stats);
            }
        } else {
            self.add_piece(sentence, rng, out, stats);
        }
    }

    fn add_piece(&mut self, piece: &[u32], rng: &mut Rng, out: &mut Examples, stats: &mut PackStats) {
        self.ids.extend_from_slice(piece);
        self.sentence_ends.push(self.ids.len());
        if self.ids.len() >= self.target_len {
            self.create_example(rng, out, stats);
        }
    }

    /// The document ended: whatever is accumulated becomes an example.
    pub fn end_document(&mut self, rng: &mut Rng, out: &mut Examples, stats: &mut PackStats) {
        if !self.ids.is_empty() {
            self.create_example(rng, out, stats);
        }
    }

    /// Steps 4–7.
    fn create_example(&mut self, rng: &mut Rng, out: &mut Examples, stats: &mut PackStats) {
        let first_target = if rng.next_f64() < SINGLE_SEGMENT_PROB { usize::MAX } else { (self.target_len - 3) / 2 };
        self.first.clear();
        self.second.clear();
        let mut start = 0;
        for &end in &self.sentence_ends {
            let sentence = &self.ids[start..end];
            start = end;
            let to_first = self.second.is_empty()
                && (self.first.is_empty()
                    || self.first.len() + sentence.len() < first_target
                    || (self.first.len() < first_target && rng.next_f64() < OVERFILL_A_PROB));
            if to_first {
                self.first.extend_from_slice(sentence);
            } else {
                self.second.extend_from_slice(sentence);
            }
        }
        let total = self.first.len() + self.second.len();
        self.first.truncate(self.max_len - 2);
        self.second.truncate(self.max_len.saturating_sub(self.first.len() + 3));
        stats.dropped_tokens += (total - self.first.len() - self.second.len()) as u64;
        out.push(self.special.cls, self.special.sep, &self.first, &self.second);

        self.ids.clear();
        self.sentence_ends.clear();
        self.target_len = if rng.next_f64() < RANDOM_LENGTH_PROB {
            rng.range_inclusive(MIN_RANDOM_LENGTH as u64, self.max_len as u64) as usize
        } else {
            self.max_len
        };
    }
}

/// Sentences of a line: a cut after `.`, `!` or `?` (a run of them), optionally followed by closing
/// quotes or brackets, then whitespace, then a character that can open a sentence (an uppercase letter,
/// a digit, an opening quote or bracket). The whitespace between sentences is dropped. Known misses:
/// abbreviations before a capital ("Mr. Smith") are cut; sentences starting in lowercase are not.
/// Either only moves the boundary between segments A and B; no text is lost.
pub fn split_sentences(line: &str) -> SentenceIter<'_> {
    SentenceIter { line, pos: 0 }
}

pub struct SentenceIter<'a> {
    line: &'a str,
    pos: usize,
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '\u{201D}' | '\u{2019}' | '\u{BB}')
}

fn can_open_sentence(c: char) -> bool {
    c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '\'' | '(' | '[' | '\u{201C}' | '\u{2018}' | '\u{AB}')
}

impl<'a> Iterator for SentenceIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let line = self.line;
        let bytes = line.as_bytes();
        if self.pos >= bytes.len() {
            return None;
        }
        let start = self.pos;
        let mut i = start;
        while let Some(found) = memchr::memchr3(b'.', b'!', b'?', &bytes[i..]) {
            i += found;
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b'.' | b'!' | b'?') {
                j += 1;
            }
            // `j` is on a char boundary: the bytes before it are ASCII or whole closers.
            while let Some(c) = line[j..].chars().next().filter(|&c| is_closer(c)) {
                j += c.len_utf8();
            }
            let mut k = j;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            if k > j && k < bytes.len() && line[k..].chars().next().is_some_and(can_open_sentence) {
                self.pos = k;
                return Some(&line[start..j]);
            }
            i = j;
        }
        self.pos = bytes.len();
        Some(&line[start..])
    }
}

/// Tokenizes and packs every document of a chunk.
pub struct Packed {
    pub shard: usize,
    pub ordinal: u64,
    pub examples: Examples,
    pub read: ReadStats,
    pub pack: PackStats,
}

/// Steps 1–7 over one chunk, with the chunk's own random stream.
pub fn pack_chunk<E: Encoder + ?Sized>(
    chunk: &Chunk,
    encoder: &E,
    seq_len: usize,
    seed: u64,
) -> Result<Packed, EncodeError> {
    let special = encoder.special_tokens();
    let mut rng = Rng::derive(seed, &[chunk.shard as u64, chunk.ordinal]);
    let mut builder = ExampleBuilder::new(seq_len, special);
    let mut out = Examples::new();
    let mut stats = PackStats::default();
    let mut ids = Vec::new();
    for document in chunk.documents() {
        for line in document {
            for sentence in split_sentences(line) {
                ids.clear();
                encoder.encode_into(sentence, &mut ids)?;
                stats.sentences += 1;
                stats.text_tokens += ids.len() as u64;
                stats.unk_tokens += ids.iter().filter(|&&id| id == special.unk).count() as u64;
                builder.add_sentence(&ids, &mut rng, &mut out, &mut stats);
            }
        }
        builder.end_document(&mut rng, &mut out, &mut stats);
    }
    Ok(Packed { shard: chunk.shard, ordinal: chunk.ordinal, examples: out, read: chunk.stats, pack: stats })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIAL: SpecialTokens = SpecialTokens { cls: 101, sep: 102, pad: 0, unk: 100 };

    #[test]
    fn sentence_boundaries() {
        let s: Vec<&str> =
            split_sentences("It rained. Then it stopped! Did it? \"Yes.\" 3 days. ok. e.g. this").collect();
        assert_eq!(s, vec!["It rained.", "Then it stopped!", "Did it?", "\"Yes.\"", "3 days. ok. e.g. this"]);
        let s: Vec<&str> = split_sentences("Wait... What?! (Really.) “Fin.”  Done").collect();
        assert_eq!(s, vec!["Wait...", "What?!", "(Really.)", "“Fin.”", "Done"]);
        assert_eq!(split_sentences("no boundary here").collect::<Vec<_>>(), vec!["no boundary here"]);
        assert_eq!(split_sentences("end.").collect::<Vec<_>>(), vec!["end."]);
        assert_eq!(split_sentences("").count(), 0);
    }

    #[test]
    fn sentences_rejoin_to_the_line() {
        let line = "A b.  C d! E?\tF \"g.\" H";
        let parts: Vec<&str> = split_sentences(line).collect();
        let joined = parts.join(" ");
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(norm(&joined), norm(line));
    }

    /// Every example: at most T ids, [CLS] first, [SEP] last, one or two [SEP], B right after A.
    fn check_examples(ex: &Examples, t: usize, source: &[u32]) {
        let mut cursor = 0usize;
        for i in 0..ex.len() {
            let (ids, b) = ex.get(i);
            assert!(ids.len() <= t && ids.len() >= 2);
            assert_eq!(ids[0], SPECIAL.cls);
            assert_eq!(*ids.last().unwrap(), SPECIAL.sep);
            let seps = ids.iter().filter(|&&x| x == SPECIAL.sep).count();
            let a = &ids[1..if b == ids.len() { ids.len() - 1 } else { b - 1 }];
            if b == ids.len() {
                assert_eq!(seps, 1);
            } else {
                assert_eq!(seps, 2);
                assert_eq!(ids[b - 1], SPECIAL.sep);
            }
            // A is a stretch of the source at or after the previous example; B follows A directly.
            let pos = (cursor..=source.len() - a.len()).find(|&p| &source[p..p + a.len()] == a).unwrap();
            let mut end = pos + a.len();
            if b < ids.len() {
                let bseg = &ids[b..ids.len() - 1];
                assert_eq!(&source[end..end + bseg.len()], bseg);
                end += bseg.len();
            }
            cursor = end;
        }
    }

    #[test]
    fn builder_keeps_the_recipe_invariants() {
        for t in [5usize, 8, 16, 128] {
            let mut rng = Rng::from_seed(t as u64);
            // Sentence lengths 1..40, ids distinct so that positions are unambiguous.
            let mut source = Vec::new();
            let mut sentences = Vec::new();
            let mut next_id = 1000u32;
            for k in 0..2000 {
                let len = 1 + (k * 7919) % 40;
                let s: Vec<u32> = (0..len)
                    .map(|_| {
                        next_id += 1;
                        next_id
                    })
                    .collect();
                source.extend_from_slice(&s);
                sentences.push(s);
            }
            let mut b = ExampleBuilder::new(t, SPECIAL);
            let mut out = Examples::new();
            let mut stats = PackStats::default();
            for s in &sentences {
                b.add_sentence(s, &mut rng, &mut out, &mut stats);
            }
            b.end_document(&mut rng, &mut out, &mut stats);
            check_examples(&out, t, &source);
            let kept: usize = (0..out.len()).map(|i| out.get(i).0.len()).sum::<usize>()
                - (0..out.len()).map(|i| if out.get(i).1 == out.get(i).0.len() { 2 } else { 3 }).sum::<usize>();
            assert_eq!(kept as u64 + stats.dropped_tokens, source.len() as u64);
            if t == 128 {
                // Shares from the recipe: ~10% single-segment, some short targets. 0.1 +- 5 sigma at n~800.
                let singles = (0..out.len()).filter(|&i| out.get(i).1 == out.get(i).0.len()).count();
                let share = singles as f64 / out.len() as f64;
                assert!(share > 0.05 && share < 0.2, "single-segment share {share}");
                assert!((0..out.len()).any(|i| out.get(i).0.len() < 64), "no short examples");
            }
        }
    }

    #[test]
    fn long_sentences_are_cut_into_pieces() {
        let mut rng = Rng::from_seed(1);
        let mut b = ExampleBuilder::new(128, SPECIAL);
        let mut out = Examples::new();
        let mut stats = PackStats::default();
        let source: Vec<u32> = (1000..1000 + 1000).collect();
        b.add_sentence(&source, &mut rng, &mut out, &mut stats);
        b.end_document(&mut rng, &mut out, &mut stats);
        check_examples(&out, 128, &source);
        // Cut into 31-token pieces, the loss is at most one piece (+3) per example; whole, it would be ~50%.
        assert!(stats.dropped_tokens < 1000 / 3, "dropped {}", stats.dropped_tokens);
    }
}
