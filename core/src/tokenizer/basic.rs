//! BERT basic tokenization as one streaming pass: HF's `BertNormalizer` (clean text, space around CJK, NFD + drop
//! non-spacing marks, lowercase) followed by `BertPreTokenizer` (split on whitespace, isolate punctuation), with
//! no allocation. Every step works on one character except NFD's canonical reordering, which sorts each run of
//! combining marks; the run is held in a fixed buffer (see [`Splitter::run`]).
//!
//! The order of the steps is HF's, and it matters: a control character is dropped before anything else (so
//! `a\u{0}b` is one word), U+000B is dropped rather than turned into a space (it is a control character first),
//! marks are stripped before lowercasing, and only the final characters decide where words split.

use super::unicode::{class_of, decompose, CharClass, MAX_DECOMPOSITION};

/// HF WordPiece's `max_input_chars_per_word`: a longer word becomes `[UNK]`.
pub const MAX_WORD_CHARS: usize = 100;
const MAX_WORD_BYTES: usize = MAX_WORD_CHARS * 4;

/// One pre-tokenized word, normalized.
pub(crate) enum Word<'w> {
    /// The word's UTF-8 bytes (at most [`MAX_WORD_CHARS`] characters).
    Text(&'w [u8]),
    /// A word of more than [`MAX_WORD_CHARS`] characters.
    TooLong,
}

/// What an ASCII byte does, after clean_text and lowercasing (no ASCII character decomposes or is a mark).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ascii {
    /// Part of a word (letters lowercased).
    Word,
    /// Whitespace: ends the word.
    Space,
    /// Punctuation: ends the word and is a word by itself.
    Punct,
    /// A control character: dropped as if it were not there.
    Removed,
}

const fn ascii_kind(b: u8) -> Ascii {
    match b {
        b'\t' | b'\n' | b'\r' | b' ' => Ascii::Space,
        0..=0x1F | 0x7F => Ascii::Removed,
        b'!'..=b'/' | b':'..=b'@' | b'['..=b'`' | b'{'..=b'~' => Ascii::Punct,
        _ => Ascii::Word,
    }
}

static ASCII_KIND: [Ascii; 128] = {
    let mut table = [Ascii::Word; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = ascii_kind(b as u8);
        b += 1;
    }
    table
};

#[cfg(test)]
pub(crate) fn ascii_kind_name(b: u8) -> &'static str {
    match ASCII_KIND[b as usize] {
        Ascii::Word => "word",
        Ascii::Space => "space",
        Ascii::Punct => "punct",
        Ascii::Removed => "removed",
    }
}

/// The word being assembled; its bytes stop being kept once it is over [`MAX_WORD_CHARS`] characters.
struct WordBuf {
    bytes: [u8; MAX_WORD_BYTES],
    len: usize,
    chars: usize,
}

impl WordBuf {
    #[inline(always)]
    fn push_ascii(&mut self, b: u8) {
        if self.chars < MAX_WORD_CHARS {
            self.bytes[self.len] = b;
            self.len += 1;
        }
        self.chars += 1;
    }

    #[inline]
    fn push_char(&mut self, c: char) {
        if self.chars < MAX_WORD_CHARS {
            // chars < MAX_WORD_CHARS means at most MAX_WORD_BYTES - 4 bytes are used: room for any char.
            self.len += c.encode_utf8(&mut self.bytes[self.len..]).len();
        }
        self.chars += 1;
    }

    #[inline(always)]
    fn take<E>(&mut self, on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>) -> Result<(), E> {
        if self.chars == 0 {
            return Ok(());
        }
        let word = if self.chars > MAX_WORD_CHARS { Word::TooLong } else { Word::Text(&self.bytes[..self.len]) };
        self.len = 0;
        self.chars = 0;
        on_word(word)
    }
}

/// State of one pass over a text.
struct Splitter {
    word: WordBuf,
    /// The current run of characters with a non-zero combining class that survive the mark filter, kept sorted
    /// (stably) by combining class as NFD's canonical ordering requires: `combining class << 24 | code point`.
    /// Such characters are rare (spacing marks like U+1D165) and always plain word characters (checked over all
    /// of Unicode by a test), so a run longer than this buffer makes a word of over [`MAX_WORD_CHARS`]
    /// characters, which is `[UNK]` whatever its order.
    run: [u32; MAX_WORD_CHARS],
    run_len: usize,
    run_overflow: bool,
}

impl Splitter {
    /// Ends the current word (whitespace, punctuation, CJK, end of text).
    #[inline(always)]
    fn break_word<E>(&mut self, on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>) -> Result<(), E> {
        if self.run_len != 0 || self.run_overflow {
            self.flush_run(on_word)?;
        }
        self.word.take(on_word)
    }

    /// Emits the sorted run (a starter, i.e. combining class 0, has arrived or the text ended).
    #[cold]
    fn flush_run<E>(&mut self, on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>) -> Result<(), E> {
        let run = self.run;
        for &packed in &run[..self.run_len] {
            if let Some(c) = char::from_u32(packed & 0x00FF_FFFF) {
                self.finish_char(c, class_of(c), on_word)?;
            }
        }
        self.run_len = 0;
        if self.run_overflow {
            // More survivors than MAX_WORD_CHARS in one run: the word is too long, order no longer matters.
            self.word.chars = self.word.chars.max(MAX_WORD_CHARS + 1);
            self.run_overflow = false;
        }
        Ok(())
    }

    #[cold]
    fn run_insert(&mut self, ccc: u8, c: char) {
        if self.run_len == self.run.len() {
            self.run_overflow = true;
            return;
        }
        let packed = u32::from(ccc) << 24 | c as u32;
        // Stable: after every entry with a combining class <= ccc.
        let mut at = self.run_len;
        while at > 0 && (self.run[at - 1] >> 24) > u32::from(ccc) {
            self.run[at] = self.run[at - 1];
            at -= 1;
        }
        self.run[at] = packed;
        self.run_len += 1;
    }

    /// Lowercase, then split: `c` is a character of the text after NFD and mark stripping.
    #[inline]
    fn finish_char<E>(
        &mut self,
        c: char,
        class: CharClass,
        on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        for lower in c.to_lowercase() {
            let lower_class = if lower == c { class } else { class_of(lower) };
            if lower.is_whitespace() {
                self.word.take(on_word)?;
            } else if lower_class.punctuation() {
                self.word.take(on_word)?;
                let mut utf8 = [0u8; 4];
                on_word(Word::Text(lower.encode_utf8(&mut utf8).as_bytes()))?;
            } else {
                self.word.push_char(lower);
            }
        }
        Ok(())
    }

    /// One character of NFD output, before reordering and mark stripping.
    #[inline]
    fn decomposed_char<E>(
        &mut self,
        c: char,
        class: CharClass,
        on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let ccc = class.combining_class();
        if ccc == 0 {
            if self.run_len != 0 || self.run_overflow {
                self.flush_run(on_word)?;
            }
            if class.nonspacing_mark() {
                return Ok(());
            }
            self.finish_char(c, class, on_word)
        } else {
            if !class.nonspacing_mark() {
                self.run_insert(ccc, c);
            }
            Ok(())
        }
    }

    /// One character after clean_text and the CJK step: NFD it.
    #[inline]
    fn normalized_char<E>(
        &mut self,
        c: char,
        class: CharClass,
        on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if !class.decomposes() {
            return self.decomposed_char(c, class, on_word);
        }
        let mut parts = ['\0'; MAX_DECOMPOSITION];
        let n = decompose(c, &mut parts);
        for &d in &parts[..n] {
            self.decomposed_char(d, class_of(d), on_word)?;
        }
        Ok(())
    }

    /// A non-ASCII character of the input.
    fn input_char<E>(&mut self, c: char, on_word: &mut impl FnMut(Word<'_>) -> Result<(), E>) -> Result<(), E> {
        let class = class_of(c);
        if class.removed() {
            Ok(())
        } else if class.space() {
            self.break_word(on_word)
        } else if class.cjk() {
            // BertNormalizer puts a space on each side of the ideograph.
            self.break_word(on_word)?;
            self.normalized_char(c, class, on_word)?;
            self.break_word(on_word)
        } else {
            self.normalized_char(c, class, on_word)
        }
    }
}

/// Normalizes and pre-tokenizes `text` exactly like HF's BERT pipeline, calling `on_word` for each word in order.
/// Stops at the first error `on_word` returns.
pub(crate) fn for_each_word<E>(text: &str, mut on_word: impl FnMut(Word<'_>) -> Result<(), E>) -> Result<(), E> {
    let mut s = Splitter {
        word: WordBuf { bytes: [0; MAX_WORD_BYTES], len: 0, chars: 0 },
        run: [0; MAX_WORD_CHARS],
        run_len: 0,
        run_overflow: false,
    };
    let on_word = &mut on_word;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            match ASCII_KIND[b as usize] {
                Ascii::Word => {
                    if s.run_len != 0 || s.run_overflow {
                        s.flush_run(on_word)?;
                    }
                    s.word.push_ascii(b.to_ascii_lowercase());
                }
                Ascii::Space => s.break_word(on_word)?,
                Ascii::Punct => {
                    s.break_word(on_word)?;
                    on_word(Word::Text(core::slice::from_ref(&bytes[i - 1])))?;
                }
                Ascii::Removed => {}
            }
        } else {
            // `text` is a &str, so a character starts here; `get` keeps this panic-free regardless.
            let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else { break };
            i += c.len_utf8();
            s.input_char(c, on_word)?;
        }
    }
    s.break_word(on_word)
}
