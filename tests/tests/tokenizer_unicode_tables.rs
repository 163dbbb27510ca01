//! The tokenizer's Unicode tables (`core/src/tokenizer/tables.rs`) are generated here from the very crates HF
//! tokenizers 0.23 classifies characters with: `unicode_categories` 0.1.1 (control, format, private use,
//! punctuation, non-spacing marks) and `unicode-normalization-alignments` 0.1.12 (NFD decompositions and canonical
//! combining classes, Unicode 9.0). Rust's own `char::is_whitespace` and `char::to_lowercase` are used by both HF
//! and electra-core directly, so they need no table.
//!
//! `generated_tables_are_current` fails when the checked-in file differs from what these crates say; regenerate
//! with `ELECTRA_WRITE_TOKENIZER_TABLES=1 cargo test --release -p electra-tests --test tokenizer_unicode_tables`.
//! `every_code_point_classifies_like_hf` then checks the core's lookups (direct table, range search, decomposition
//! search, Hangul arithmetic) against the crates for all 1,112,064 scalar values.

use std::fmt::Write as _;

use electra_core::tokenizer::unicode::{self, CharClass};
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::char as unf;

const TABLES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/src/tokenizer/tables.rs");

/// Code points below this get a direct one-byte class lookup (Latin, Greek, Cyrillic, Hebrew, Arabic...).
const DIRECT_LIMIT: u32 = 0x800;

/// First code point of the Hangul syllables block, decomposed arithmetically rather than from a table.
const HANGUL_FIRST: u32 = 0xAC00;
const HANGUL_LAST: u32 = 0xD7A3;

// --- HF's definitions, verbatim from tokenizers 0.23 (normalizers/bert.rs, pre_tokenizers/bert.rs) ---

fn hf_is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn hf_is_control(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        _ => c.is_other(),
    }
}

fn hf_is_chinese_char(c: char) -> bool {
    matches!(
        c as usize,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

fn hf_is_bert_punc(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// Dropped by BertNormalizer's clean_text.
fn hf_is_removed(c: char) -> bool {
    c as u32 == 0 || c as u32 == 0xFFFD || hf_is_control(c)
}

fn hf_nfd(c: char) -> Vec<char> {
    let mut out = Vec::new();
    unf::decompose_canonical(c, |d| out.push(d));
    out
}

/// The class bits of one scalar value, in the layout `CharClass` reads.
fn bits_of(c: char) -> u16 {
    let removed = hf_is_removed(c);
    let mut bits = 0u16;
    if removed {
        bits |= CharClass::REMOVED;
    }
    if !removed && hf_is_whitespace(c) {
        bits |= CharClass::SPACE;
    }
    if hf_is_chinese_char(c) {
        bits |= CharClass::CJK;
    }
    if hf_nfd(c) != [c] {
        bits |= CharClass::DECOMPOSES;
    }
    if c.is_mark_nonspacing() {
        bits |= CharClass::NONSPACING_MARK;
    }
    if hf_is_bert_punc(c) {
        bits |= CharClass::PUNCTUATION;
    }
    bits | (u16::from(unf::canonical_combining_class(c)) << CharClass::CCC_SHIFT)
}

struct Tables {
    class_bits: Vec<u16>,
    direct: Vec<u8>,
    ranges: Vec<u32>,
    decomp_keys: Vec<u32>,
    decomp_spans: Vec<u16>,
    decomp_chars: Vec<u32>,
    max_decomposition: usize,
}

fn build_tables() -> Tables {
    let mut class_bits: Vec<u16> = Vec::new();
    let mut class_of_cp = vec![0u8; 0x110000];
    let mut prev = 0u8;
    for cp in 0..0x110000u32 {
        let Some(c) = char::from_u32(cp) else {
            // Surrogates never occur in a &str; give them the previous class so they do not split a range.
            class_of_cp[cp as usize] = prev;
            continue;
        };
        let bits = bits_of(c);
        let id = match class_bits.iter().position(|&b| b == bits) {
            Some(id) => id,
            None => {
                class_bits.push(bits);
                class_bits.len() - 1
            }
        };
        let id = u8::try_from(id).expect("more than 256 distinct character classes");
        class_of_cp[cp as usize] = id;
        prev = id;
    }
    let direct = class_of_cp[..DIRECT_LIMIT as usize].to_vec();
    let mut ranges = Vec::new();
    for cp in DIRECT_LIMIT..0x110000 {
        let id = class_of_cp[cp as usize];
        if cp == DIRECT_LIMIT || id != class_of_cp[cp as usize - 1] {
            ranges.push(cp << 8 | u32::from(id));
        }
    }
    let mut decomp_keys = Vec::new();
    let mut decomp_spans = Vec::new();
    let mut decomp_chars: Vec<u32> = Vec::new();
    let mut max_decomposition = 1;
    for cp in 0..0x110000u32 {
        let Some(c) = char::from_u32(cp) else { continue };
        let d = hf_nfd(c);
        max_decomposition = max_decomposition.max(d.len());
        if d == [c] || (HANGUL_FIRST..=HANGUL_LAST).contains(&cp) {
            continue;
        }
        let span: Vec<u32> = d.iter().map(|&x| x as u32).collect();
        // Share an identical earlier span (many compatibility ideographs map to the same character).
        let offset = (0..decomp_chars.len().saturating_sub(span.len() - 1))
            .find(|&o| decomp_chars[o..o + span.len()] == span[..])
            .unwrap_or_else(|| {
                decomp_chars.extend_from_slice(&span);
                decomp_chars.len() - span.len()
            });
        assert!(offset < (1 << 13) && span.len() < 8, "decomposition span does not fit 13+3 bits");
        decomp_keys.push(cp);
        decomp_spans.push((offset as u16) << 3 | span.len() as u16);
    }
    Tables { class_bits, direct, ranges, decomp_keys, decomp_spans, decomp_chars, max_decomposition }
}

fn write_array<T: std::fmt::Display>(out: &mut String, doc: &str, name: &str, ty: &str, items: &[T], per_line: usize) {
    writeln!(out, "{doc}").unwrap();
    writeln!(out, "pub(crate) static {name}: [{ty}; {}] = [", items.len()).unwrap();
    for chunk in items.chunks(per_line) {
        let line: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
        writeln!(out, "    {},", line.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
}

fn render(t: &Tables) -> String {
    let mut out = String::new();
    out.push_str(
        "//! GENERATED by tests/tests/tokenizer_unicode_tables.rs from unicode_categories 0.1.1 and\n\
         //! unicode-normalization-alignments 0.1.12 (the crates HF tokenizers 0.23 uses). Do not edit by hand:\n\
         //! `ELECTRA_WRITE_TOKENIZER_TABLES=1 cargo test --release -p electra-tests --test tokenizer_unicode_tables`.\n\
         #![cfg_attr(rustfmt, rustfmt::skip)]\n\n",
    );
    writeln!(out, "/// Longest canonical decomposition of one character, in characters.").unwrap();
    writeln!(out, "pub(crate) const MAX_DECOMPOSITION: usize = {};", t.max_decomposition).unwrap();
    writeln!(out, "/// Code points below this are classified by `DIRECT_CLASS`, the rest by `CLASS_RANGES`.").unwrap();
    writeln!(out, "pub(crate) const DIRECT_LIMIT: u32 = {DIRECT_LIMIT:#x};\n").unwrap();
    write_array(
        &mut out,
        "/// Each class's bits: `CharClass` flags in the low byte, the canonical combining class in the high byte.",
        "CLASS_BITS",
        "u16",
        &t.class_bits.iter().map(|b| format!("{b:#06x}")).collect::<Vec<_>>(),
        12,
    );
    out.push('\n');
    write_array(
        &mut out,
        "/// Class index of each code point below `DIRECT_LIMIT`.",
        "DIRECT_CLASS",
        "u8",
        &t.direct,
        32,
    );
    out.push('\n');
    write_array(
        &mut out,
        "/// `first code point << 8 | class index` of each run of equal classes from `DIRECT_LIMIT` on, sorted.",
        "CLASS_RANGES",
        "u32",
        &t.ranges.iter().map(|r| format!("{r:#010x}")).collect::<Vec<_>>(),
        10,
    );
    out.push('\n');
    write_array(
        &mut out,
        "/// Code points with a canonical decomposition (Hangul syllables excepted), sorted.",
        "DECOMP_KEYS",
        "u32",
        &t.decomp_keys.iter().map(|r| format!("{r:#07x}")).collect::<Vec<_>>(),
        12,
    );
    out.push('\n');
    write_array(
        &mut out,
        "/// For each of `DECOMP_KEYS`: `offset << 3 | length` of its full decomposition in `DECOMP_CHARS`.",
        "DECOMP_SPANS",
        "u16",
        &t.decomp_spans,
        16,
    );
    out.push('\n');
    write_array(
        &mut out,
        "/// The decompositions' characters, concatenated.",
        "DECOMP_CHARS",
        "u32",
        &t.decomp_chars.iter().map(|r| format!("{r:#07x}")).collect::<Vec<_>>(),
        12,
    );
    out
}

#[test]
fn generated_tables_are_current() {
    let rendered = render(&build_tables());
    if std::env::var_os("ELECTRA_WRITE_TOKENIZER_TABLES").is_some() {
        std::fs::write(TABLES_PATH, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(TABLES_PATH).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "{TABLES_PATH} is stale; regenerate with ELECTRA_WRITE_TOKENIZER_TABLES=1 cargo test --release \
         -p electra-tests --test tokenizer_unicode_tables"
    );
}

#[test]
fn every_code_point_classifies_like_hf() {
    let mut mismatches = Vec::new();
    for c in (0..0x110000u32).filter_map(char::from_u32) {
        let class = unicode::class_of(c);
        let expected = bits_of(c);
        let got = [
            class.removed(),
            class.space(),
            class.cjk(),
            class.decomposes(),
            class.nonspacing_mark(),
            class.punctuation(),
        ];
        let want = [
            hf_is_removed(c),
            !hf_is_removed(c) && hf_is_whitespace(c),
            hf_is_chinese_char(c),
            hf_nfd(c) != [c],
            c.is_mark_nonspacing(),
            hf_is_bert_punc(c),
        ];
        if got != want || class.combining_class() != unf::canonical_combining_class(c) || class.bits() != expected {
            mismatches.push(format!("U+{:04X}: got {got:?} ccc {}, want {want:?}", c as u32, class.combining_class()));
        }
        let mut buf = ['\0'; unicode::MAX_DECOMPOSITION];
        let n = unicode::decompose(c, &mut buf);
        if buf[..n] != hf_nfd(c)[..] {
            mismatches.push(format!("U+{:04X}: NFD {:?}, want {:?}", c as u32, &buf[..n], hf_nfd(c)));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(20)]
    );
}

/// The core keeps only a bounded buffer for canonical reordering: it relies on every character that survives the
/// non-spacing-mark filter with a non-zero combining class being an ordinary word character (not whitespace, not
/// punctuation, its own lowercase). If a table update broke that, this fails.
#[test]
fn reorderable_survivors_are_plain_word_characters() {
    for c in (0..0x110000u32).filter_map(char::from_u32) {
        if unf::canonical_combining_class(c) == 0 || c.is_mark_nonspacing() {
            continue;
        }
        assert!(!c.is_whitespace() && !hf_is_bert_punc(c), "U+{:04X} splits words", c as u32);
        assert!(c.to_lowercase().eq([c]), "U+{:04X} changes under lowercase", c as u32);
    }
}
