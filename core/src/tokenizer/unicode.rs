//! Character classes exactly as HF tokenizers' BERT pipeline sees them.
//!
//! HF classifies with two crates frozen at old Unicode versions (`unicode_categories` 0.1.1 and
//! `unicode-normalization-alignments` 0.1.12, Unicode 9.0), so "is this punctuation" or "does this decompose"
//! must be answered from *their* tables, not today's Unicode. [`tables`](super::tables) is generated from those
//! crates (see `tests/tests/tokenizer_unicode_tables.rs`, which also checks every code point against them).
//! Whitespace and lowercasing come from Rust's `core`, as in HF.

use super::tables::{CLASS_BITS, CLASS_RANGES, DECOMP_CHARS, DECOMP_KEYS, DECOMP_SPANS, DIRECT_CLASS, DIRECT_LIMIT};

/// Longest canonical decomposition of one character, in characters.
pub const MAX_DECOMPOSITION: usize = super::tables::MAX_DECOMPOSITION;

/// What the BERT pipeline needs to know about one character: flags in the low byte, the canonical combining class
/// in the high byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharClass(u16);

impl CharClass {
    /// Dropped by clean_text: NUL, U+FFFD, and "control" (Cc, Cf, Co) other than `\t \n \r`.
    pub const REMOVED: u16 = 1 << 0;
    /// Mapped to a space by clean_text (`\t \n \r` and Rust's `char::is_whitespace`), when not removed.
    pub const SPACE: u16 = 1 << 1;
    /// A CJK ideograph that BertNormalizer surrounds with spaces.
    pub const CJK: u16 = 1 << 2;
    /// Has a canonical (NFD) decomposition other than itself.
    pub const DECOMPOSES: u16 = 1 << 3;
    /// General category Mn: dropped after NFD when accents are stripped.
    pub const NONSPACING_MARK: u16 = 1 << 4;
    /// ASCII punctuation or a Unicode P* category: BertPreTokenizer isolates it as its own word.
    pub const PUNCTUATION: u16 = 1 << 5;
    /// Bit position of the canonical combining class.
    pub const CCC_SHIFT: u32 = 8;

    /// The raw bits (flags and combining class).
    pub fn bits(self) -> u16 {
        self.0
    }
    /// See [`Self::REMOVED`].
    pub fn removed(self) -> bool {
        self.0 & Self::REMOVED != 0
    }
    /// See [`Self::SPACE`].
    pub fn space(self) -> bool {
        self.0 & Self::SPACE != 0
    }
    /// See [`Self::CJK`].
    pub fn cjk(self) -> bool {
        self.0 & Self::CJK != 0
    }
    /// See [`Self::DECOMPOSES`].
    pub fn decomposes(self) -> bool {
        self.0 & Self::DECOMPOSES != 0
    }
    /// See [`Self::NONSPACING_MARK`].
    pub fn nonspacing_mark(self) -> bool {
        self.0 & Self::NONSPACING_MARK != 0
    }
    /// See [`Self::PUNCTUATION`].
    pub fn punctuation(self) -> bool {
        self.0 & Self::PUNCTUATION != 0
    }
    /// The canonical combining class (0 for starters).
    pub fn combining_class(self) -> u8 {
        (self.0 >> Self::CCC_SHIFT) as u8
    }
}

/// The class of `c`: a direct table below [`DIRECT_LIMIT`](super::tables::DIRECT_LIMIT), a binary search over runs
/// of equal classes above.
#[inline]
pub fn class_of(c: char) -> CharClass {
    let cp = c as u32;
    let class_index = if cp < DIRECT_LIMIT {
        DIRECT_CLASS[cp as usize]
    } else {
        // The last run starting at or before `cp`. Runs start at DIRECT_LIMIT, so the index is never 0 - 1.
        let key = (cp << 8) | 0xFF;
        let run = CLASS_RANGES.partition_point(|&r| r <= key);
        CLASS_RANGES[run.saturating_sub(1)] as u8
    };
    CharClass(CLASS_BITS.get(class_index as usize).copied().unwrap_or(0))
}

const HANGUL_S_BASE: u32 = 0xAC00;
const HANGUL_L_BASE: u32 = 0x1100;
const HANGUL_V_BASE: u32 = 0x1161;
const HANGUL_T_BASE: u32 = 0x11A7;
const HANGUL_V_COUNT: u32 = 21;
const HANGUL_T_COUNT: u32 = 28;
const HANGUL_N_COUNT: u32 = HANGUL_V_COUNT * HANGUL_T_COUNT;
const HANGUL_S_COUNT: u32 = 19 * HANGUL_N_COUNT;

/// Writes the full canonical decomposition (NFD, before reordering) of `c` into `out` and returns its length
/// (1 and `c` itself when it does not decompose).
#[inline]
pub fn decompose(c: char, out: &mut [char; MAX_DECOMPOSITION]) -> usize {
    let cp = c as u32;
    let s_index = cp.wrapping_sub(HANGUL_S_BASE);
    if s_index < HANGUL_S_COUNT {
        // Unicode's arithmetic Hangul decomposition (section 3.12); every result is a valid jamo.
        let l = HANGUL_L_BASE + s_index / HANGUL_N_COUNT;
        let v = HANGUL_V_BASE + (s_index % HANGUL_N_COUNT) / HANGUL_T_COUNT;
        let t = s_index % HANGUL_T_COUNT;
        out[0] = char::from_u32(l).unwrap_or(c);
        out[1] = char::from_u32(v).unwrap_or(c);
        if t == 0 {
            return 2;
        }
        out[2] = char::from_u32(HANGUL_T_BASE + t).unwrap_or(c);
        return 3;
    }
    if let Ok(i) = DECOMP_KEYS.binary_search(&cp) {
        let span = DECOMP_SPANS[i];
        let (offset, len) = ((span >> 3) as usize, (span & 7) as usize);
        if let Some(chars) = DECOMP_CHARS.get(offset..offset + len) {
            if len <= MAX_DECOMPOSITION {
                for (slot, &d) in out.iter_mut().zip(chars) {
                    *slot = char::from_u32(d).unwrap_or(c);
                }
                return len;
            }
        }
    }
    out[0] = c;
    1
}
