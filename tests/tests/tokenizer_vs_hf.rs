//! Differential property test: electra-core's tokenizer against the HF `tokenizers` crate (0.23) itself, built
//! in code as BERT uncased (`BertNormalizer` clean + CJK + strip accents + lowercase, `BertPreTokenizer`,
//! `WordPiece` with `[UNK]` and 100 characters a word) over `data/vocab.txt`, on generated strings mixing
//! vocabulary words with characters from the classes that are easy to get wrong. Zero mismatches allowed.

use std::sync::OnceLock;

use electra_core::tokenizer::{build_index, index_len, Tokenizer};
use proptest::prelude::*;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{TruncationDirection, TruncationParams, TruncationStrategy};

const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/vocab.txt");
/// Generated strings per property; a few thousand HF encodes run in about a second in release.
const CASES: u32 = 3000;

/// Pair truncation lengths the property tries.
const MAX_LENS: std::ops::Range<usize> = 3..40;

struct Both {
    vocab: Vec<u8>,
    index: Vec<u32>,
    tokens: Vec<String>,
    hf: tokenizers::Tokenizer,
    /// `hf` with `[CLS] A [SEP] B [SEP]` post-processing and longest-first truncation to `max_len`, for each of
    /// `MAX_LENS` (cloning HF's tokenizer per case would dominate the test's time).
    hf_pairs: Vec<tokenizers::Tokenizer>,
}

fn both() -> &'static Both {
    static BOTH: OnceLock<Both> = OnceLock::new();
    BOTH.get_or_init(|| {
        let vocab = std::fs::read(VOCAB).unwrap();
        let mut index = vec![0u32; index_len(&vocab)];
        build_index(&vocab, &mut index).unwrap();
        let tokens = String::from_utf8(vocab.clone()).unwrap().lines().map(str::to_owned).collect();
        let wordpiece = WordPiece::from_file(VOCAB)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .unwrap();
        let mut hf = tokenizers::Tokenizer::new(wordpiece);
        let _ = hf.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
        hf.with_pre_tokenizer(Some(BertPreTokenizer));
        let (cls, sep) = (hf.token_to_id("[CLS]").unwrap(), hf.token_to_id("[SEP]").unwrap());
        let hf_pairs = MAX_LENS
            .map(|max_length| {
                let mut pair = hf.clone();
                pair.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
                pair.with_truncation(Some(TruncationParams {
                    max_length,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                    direction: TruncationDirection::Right,
                }))
                .unwrap();
                pair
            })
            .collect();
        Both { vocab, index, tokens, hf, hf_pairs }
    })
}

impl Both {
    fn ours(&self) -> Tokenizer<'_> {
        Tokenizer::new(&self.vocab, &self.index).unwrap()
    }
}

/// Characters from the classes where a tokenizer most easily differs from HF.
fn hard_char() -> impl Strategy<Value = char> {
    use proptest::char::range;
    prop_oneof![
        4 => range('\u{0}', '\u{7F}'),          // ASCII incl. controls, punctuation, \t \n \r \x0b \x0c
        3 => range('\u{80}', '\u{24F}'),        // C1 controls, NBSP, Latin-1, Latin Extended (accents)
        3 => range('\u{300}', '\u{36F}'),       // combining diacritics (Mn, several combining classes)
        1 => range('\u{370}', '\u{52F}'),       // Greek (tonos, dialytika), Cyrillic
        1 => range('\u{591}', '\u{6FF}'),       // Hebrew points, Arabic marks and letters
        1 => range('\u{900}', '\u{DFF}'),       // Indic scripts: Mn, Mc, nukta, virama
        1 => range('\u{1100}', '\u{11FF}'),     // Hangul jamo
        2 => range('\u{AC00}', '\u{D7A3}'),     // Hangul syllables (arithmetic NFD)
        1 => range('\u{1E00}', '\u{1FFF}'),     // Latin Extended Additional, Greek Extended (multi-mark NFD)
        2 => range('\u{2000}', '\u{206F}'),     // spaces, zero width, bidi controls, general punctuation
        1 => range('\u{2100}', '\u{2BFF}'),     // letterlike (K, Ohm), symbols, arrows
        1 => range('\u{3000}', '\u{30FF}'),     // ideographic space and punctuation, kana
        2 => range('\u{3400}', '\u{4DBF}'),     // CJK extension A
        3 => range('\u{4E00}', '\u{9FFF}'),     // CJK unified
        1 => range('\u{E000}', '\u{F8FF}'),     // private use (control for HF: Co)
        1 => range('\u{F900}', '\u{FAFF}'),     // CJK compatibility (NFD to unified)
        1 => range('\u{FE00}', '\u{FFFF}'),     // variation selectors, BOM, fullwidth forms, specials, U+FFFD
        1 => range('\u{1D100}', '\u{1D1FF}'),   // musical symbols: spacing marks with combining classes
        2 => range('\u{1F300}', '\u{1FAFF}'),   // emoji (some newer than HF's Unicode 9 tables)
        1 => range('\u{20000}', '\u{2FA1F}'),   // CJK extensions B-F, compatibility supplement, gaps between
        1 => range('\u{E0000}', '\u{E01EF}'),   // tags, variation selectors supplement
        1 => any::<char>(),
        1 => Just('\u{130}'),                   // İ: lowercases to two characters
        1 => Just('\u{3A3}'),                   // Σ: no final-sigma context in char lowercasing
        1 => Just('\u{0}'),
        1 => Just('\u{FFFD}'),
    ]
}

/// A piece of generated text: a vocabulary token (maybe uppercased), a run of hard characters, or spacing.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, upper)| {
            let tokens = &both().tokens;
            let t = tokens[i.index(tokens.len())].trim_start_matches("##");
            if upper { t.to_uppercase() } else { t.to_owned() }
        }),
        4 => prop::collection::vec(hard_char(), 1..6).prop_map(|v| v.into_iter().collect()),
        2 => prop_oneof![Just(" ".to_owned()), Just("  \t".to_owned()), Just("\n".to_owned()), Just(String::new())],
        1 => (hard_char(), 95usize..110).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        1 => (0usize..3).prop_map(|i| ["[MASK]", "[CLS]", "[SEP]"][i].to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..24).prop_map(|v| v.concat())
}

fn hf_ids(encoding: &tokenizers::Encoding) -> Vec<u32> {
    encoding.get_ids().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn single_texts_match_hf(text in text()) {
        let b = both();
        let want = hf_ids(&b.hf.encode(text.as_str(), false).unwrap());
        let mut ids = vec![0u32; text.len() + 1];
        let n = b.ours().encode(&text, &mut ids).unwrap();
        prop_assert_eq!(&ids[..n], &want[..], "text {:?}", text);
    }

    #[test]
    fn truncated_pairs_match_hf(a in text(), second in proptest::option::of(text()), max_len in MAX_LENS) {
        let b = both();
        let ours = b.ours();
        let hf = &b.hf_pairs[max_len - MAX_LENS.start];
        let encoding = match &second {
            Some(s) => hf.encode((a.as_str(), s.as_str()), true).unwrap(),
            None => hf.encode(a.as_str(), true).unwrap(),
        };
        let mut ids = vec![0u32; max_len];
        let mut types = vec![0u8; max_len];
        let n = ours.encode_pair(&a, second.as_deref(), max_len, &mut ids, &mut types).unwrap();
        prop_assert_eq!(&ids[..n], encoding.get_ids(), "a {:?} b {:?}", a, second);
        let want_types: Vec<u8> = encoding.get_type_ids().iter().map(|&t| t as u8).collect();
        prop_assert_eq!(&types[..n], &want_types[..]);
    }
}

/// The property test's generator must actually reach the hard paths; this pins a few by hand.
#[test]
fn hand_picked_hard_strings_match_hf() {
    let b = both();
    let texts = [
        "\u{1E09}\u{0327}x \u{1D16D}\u{0301}\u{1D165}",
        "a\u{0}b\u{b}c\u{c}d\u{85}e\u{a0}f\u{200b}g\u{feff}h\u{2028}i",
        "\u{130}STANBUL \u{3A3}\u{39F}\u{3A3} \u{1F600}\u{1F9D1}\u{200D}\u{1F4BB}",
        "\u{F900}\u{2F800}\u{20000}\u{30000}\u{AC01}\u{1100}\u{1161}",
        "[MASK] [CLS]x[SEP] ##ing",
        &"\u{e9}".repeat(100),
        &"\u{e9}".repeat(101),
    ];
    for text in texts {
        let want = hf_ids(&b.hf.encode(text, false).unwrap());
        let mut ids = vec![0u32; text.len() + 1];
        let n = b.ours().encode(text, &mut ids).unwrap();
        assert_eq!(&ids[..n], &want[..], "text {text:?}");
    }
}
