//! Greedy longest-match-first WordPiece, as HF's `WordPiece::tokenize`: from the start of the word take the longest
//! vocabulary token that matches (continuations spelled `##piece`), repeat from where it ended; if some position
//! matches nothing the whole word is `[UNK]`.
//!
//! Linear time: the FNV-1a hashes of every candidate piece are computed in one forward pass (each is the previous
//! one plus a byte), then looked up longest first. Candidates are only as long as the longest token in the
//! vocabulary, so the work per character is bounded by a constant.

use super::basic::MAX_WORD_CHARS;
use super::vocab::{VocabView, CONTINUATION, HASH_CONTINUATION, HASH_START};

#[inline(always)]
fn is_char_start(b: u8) -> bool {
    (b as i8) >= -0x40
}

/// Scratch space for one text, reused word after word (zeroing it per word showed in profiles).
pub(crate) struct Scratch {
    /// The current word's token ids.
    pub(crate) pieces: [u32; MAX_WORD_CHARS],
    /// (end, hash) of each candidate piece starting at the current position, ending on a character boundary.
    candidates: [(u32, u32); MAX_WORD_CHARS],
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self { pieces: [0; MAX_WORD_CHARS], candidates: [(0, 0); MAX_WORD_CHARS] }
    }
}

/// Splits `word` (UTF-8, at most [`MAX_WORD_CHARS`] characters) into `scratch.pieces`. `None` when some position
/// matches no token (the caller emits `[UNK]` for the word).
#[inline]
pub(crate) fn word_pieces(
    vocab: &VocabView<'_>,
    max_token_bytes: usize,
    max_continuation_bytes: usize,
    word: &[u8],
    scratch: &mut Scratch,
) -> Option<usize> {
    let Scratch { pieces, candidates } = scratch;
    let mut count = 0;
    let mut start = 0;
    while start < word.len() {
        let (prefix, mut state, longest) = if start == 0 {
            (&[][..], HASH_START, max_token_bytes)
        } else {
            (CONTINUATION, HASH_CONTINUATION, max_continuation_bytes)
        };
        let stop = word.len().min(start + longest);
        let mut n = 0;
        for j in start..stop {
            state = super::vocab::hash_step(state, word[j]);
            if j + 1 == word.len() || is_char_start(word[j + 1]) {
                // At most one candidate per character, and a word has at most MAX_WORD_CHARS of them.
                *candidates.get_mut(n)? = ((j + 1) as u32, state);
                n += 1;
            }
        }
        let mut matched = None;
        while n > 0 {
            n -= 1;
            let (end, hash) = candidates[n];
            if let Some(id) = vocab.lookup(hash, prefix, &word[start..end as usize]) {
                matched = Some((end as usize, id));
                break;
            }
        }
        let (end, id) = matched?;
        *pieces.get_mut(count)? = id;
        count += 1;
        start = end;
    }
    Some(count)
}
