//! Unit tests on small hand-written vocabularies. Exactness against HF on real text is shown by
//! `tests/tests/tokenizer_wordpiece_cases.rs` and `tests/tests/tokenizer_vs_hf.rs`.
extern crate std;
use std::{vec, vec::Vec};

use super::*;

const SMALL: &[u8] =
    b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n,\nworld\nwor\n##ld\n!\n[\n]\nmask\nun\n##aff\n##able\ncafe\n\
\xe4\xb8\xad\n##s\n";

fn index_of(vocab: &[u8]) -> Vec<u32> {
    let mut index = vec![0u32; index_len(vocab)];
    build_index(vocab, &mut index).unwrap();
    index
}

fn encode(tok: &Tokenizer<'_>, text: &str) -> Vec<u32> {
    let mut ids = vec![0u32; text.len() * 3 + 4];
    let n = tok.encode(text, &mut ids).unwrap();
    ids.truncate(n);
    ids
}

fn tokens(tok: &Tokenizer<'_>, text: &str) -> Vec<std::string::String> {
    encode(tok, text).into_iter().map(|id| tok.id_to_token(id).unwrap().into()).collect()
}

#[test]
fn ascii_fast_path_agrees_with_the_tables() {
    for b in 0u8..128 {
        let c = b as char;
        let class = unicode::class_of(c);
        let expected = if class.removed() {
            "removed"
        } else if class.space() || c.is_whitespace() {
            "space"
        } else if class.punctuation() {
            "punct"
        } else {
            "word"
        };
        assert_eq!(basic::ascii_kind_name(b), expected, "byte {b:#04x}");
        assert!(!class.decomposes() && !class.nonspacing_mark() && !class.cjk() && class.combining_class() == 0);
    }
}

#[test]
fn wordpiece_basics() {
    let index = index_of(SMALL);
    let tok = Tokenizer::new(SMALL, &index).unwrap();
    assert_eq!(tok.vocab_size(), 20);
    assert_eq!(tok.special(), SpecialIds { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
    assert_eq!(tokens(&tok, "Hello, World!"), ["hello", ",", "world", "!"]);
    // Longest match first: "world" + "##s", not "wor" + "##ld" + "##s".
    assert_eq!(tokens(&tok, "unaffable worlds worldld"), ["un", "##aff", "##able", "world", "##s", "world", "##ld"]);
    // A word with an unmatched position is [UNK] as a whole, not a partial split.
    assert_eq!(tokens(&tok, "unaffablex"), ["[UNK]"]);
    // Special-token look-alikes are plain text.
    assert_eq!(tokens(&tok, "[MASK]"), ["[", "mask", "]"]);
    // Accents stripped, CJK split out, controls dropped (NUL does not split the word).
    assert_eq!(tokens(&tok, "CAF\u{C9}\u{4E2D}hel\u{0}lo"), ["cafe", "\u{4E2D}", "hello"]);
    assert_eq!(tokens(&tok, ""), [] as [&str; 0]);
    assert_eq!(tokens(&tok, " \t\n "), [] as [&str; 0]);
}

#[test]
fn words_over_100_chars_are_unk() {
    let index = index_of(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##a\n");
    let tok = Tokenizer::new(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##a\n", &index).unwrap();
    let hundred = "a".repeat(100);
    assert_eq!(encode(&tok, &hundred), [5].into_iter().chain([6; 99]).collect::<Vec<_>>());
    assert_eq!(encode(&tok, &(hundred.clone() + "a")), [1]);
    // Counted after normalization: 101 'a' + accents is still 101 chars.
    assert_eq!(encode(&tok, &"a\u{301}".repeat(101)), [1]);
    assert_eq!(encode(&tok, &"a\u{301}".repeat(100)).len(), 100);
}

#[test]
fn full_buffer_is_an_error() {
    let index = index_of(SMALL);
    let tok = Tokenizer::new(SMALL, &index).unwrap();
    let mut ids = [0u32; 3];
    assert_eq!(tok.encode("hello, world!", &mut ids), Err(TokenizeError::BufferFull { capacity: 3 }));
    assert_eq!(tok.encode("hello, world", &mut ids), Ok(3));
    assert_eq!(tok.encode_prefix("hello, world!", &mut ids[..2]), 2);
    assert_eq!(tok.count("hello, world!"), 4);
}

#[test]
fn pair_encoding_and_truncation() {
    let index = index_of(SMALL);
    let tok = Tokenizer::new(SMALL, &index).unwrap();
    let mut ids = [0u32; 16];
    let mut types = [9u8; 16];
    let n = tok.encode_pair("hello, world", Some("worlds!"), 16, &mut ids, &mut types).unwrap();
    assert_eq!(&ids[..n], &[2, 5, 6, 7, 3, 7, 19, 10, 3]);
    assert_eq!(&types[..n], &[0, 0, 0, 0, 0, 1, 1, 1, 1]);
    // Budget 4 for 3 + 3 tokens: each keeps 2 (HF longest_first).
    let n = tok.encode_pair("hello, world", Some("worlds!"), 7, &mut ids, &mut types).unwrap();
    assert_eq!(&ids[..n], &[2, 5, 6, 3, 7, 19, 3]);
    assert_eq!(&types[..n], &[0, 0, 0, 0, 1, 1, 1]);
    let n = tok.encode_pair("hello, world", None, 4, &mut ids, &mut types).unwrap();
    assert_eq!(&ids[..n], &[2, 5, 6, 3]);
    assert_eq!(
        tok.encode_pair("a", Some("b"), 2, &mut ids, &mut types),
        Err(TokenizeError::MaxLenTooSmall { max_len: 2, special_tokens: 3 })
    );
    assert_eq!(
        tok.encode_pair("hello, world", None, 16, &mut ids[..3], &mut types),
        Err(TokenizeError::BufferFull { capacity: 3 })
    );
}

#[test]
fn longest_first_matches_hf_cases() {
    // (len_a, len_b, budget) -> kept, worked by hand from HF's algorithm.
    assert_eq!(truncate_longest_first(3, 4, 10), (3, 4));
    assert_eq!(truncate_longest_first(10, 3, 8), (5, 3));
    assert_eq!(truncate_longest_first(3, 10, 8), (3, 5));
    assert_eq!(truncate_longest_first(10, 10, 7), (3, 4));
    assert_eq!(truncate_longest_first(6, 5, 7), (4, 3));
    assert_eq!(truncate_longest_first(20, 0, 7), (7, 0));
    assert_eq!(truncate_longest_first(0, 20, 7), (0, 7));
    assert_eq!(truncate_longest_first(9, 8, 0), (0, 0));
}

#[test]
fn vocab_reading_follows_hf() {
    // CRLF and trailing spaces are trimmed, a missing final newline still ends a token, duplicates: last wins.
    let vocab = b"[PAD]\r\n[UNK] \n[CLS]\n[SEP]\n[MASK]\nx\nx\n\ny";
    let index = index_of(vocab);
    let tok = Tokenizer::new(vocab, &index).unwrap();
    assert_eq!(tok.vocab_size(), 9);
    assert_eq!(tok.id_to_token(0), Some("[PAD]"));
    assert_eq!(tok.id_to_token(1), Some("[UNK]"));
    assert_eq!(tok.id_to_token(7), Some(""));
    assert_eq!(tok.id_to_token(8), Some("y"));
    assert_eq!(tok.id_to_token(9), None);
    assert_eq!(tok.token_to_id("x"), Some(6));
    assert_eq!(tok.token_to_id("y"), Some(8));
    assert_eq!(tok.token_to_id("z"), None);
}

#[test]
fn bad_vocabularies_and_indexes_are_refused() {
    assert_eq!(build_index(b"", &mut []), Err(VocabError::Empty));
    let bad_utf8 = b"[PAD]\n\xff\xfe\n";
    let mut index = vec![0u32; index_len(bad_utf8)];
    assert_eq!(build_index(bad_utf8, &mut index), Err(VocabError::InvalidUtf8 { line: 2 }));
    let mut short = vec![0u32; index_len(SMALL) - 1];
    assert!(matches!(build_index(SMALL, &mut short), Err(VocabError::IndexSize { .. })));

    let no_mask = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
    let index = index_of(no_mask);
    assert_eq!(Tokenizer::new(no_mask, &index).err(), Some(VocabError::MissingSpecialToken { token: "[MASK]" }));

    let index = index_of(SMALL);
    let mut other = SMALL.to_vec();
    other.push(b'z');
    assert_eq!(Tokenizer::new(&other, &index).err(), Some(VocabError::IndexMismatch));
    let mut garbage = index.clone();
    garbage[0] ^= 1;
    assert_eq!(Tokenizer::new(SMALL, &garbage).err(), Some(VocabError::IndexFormat));
    // Same length, different bytes: only the checksum tells.
    let mut edited = SMALL.to_vec();
    let at = edited.iter().position(|&b| b == b'h').unwrap();
    edited[at] = b'j';
    let tok = Tokenizer::new(&edited, &index).unwrap();
    assert_eq!(tok.verify(&index), Err(VocabError::IndexMismatch));
    assert_eq!(Tokenizer::new(SMALL, &index).unwrap().verify(&index), Ok(()));
}

#[test]
fn corrupt_index_never_panics() {
    let index = index_of(SMALL);
    // Flip every word after the header in turn: encoding must still return without panicking, and never return an
    // id whose line is not the token (every id is compared with its line before it is returned).
    let good = Tokenizer::new(SMALL, &index).unwrap();
    let text = "Hello, unaffable worlds! [MASK] caf\u{e9} \u{4e2d}";
    let mut want = [0u32; 64];
    let n = good.encode(text, &mut want).unwrap();
    for i in vocab::HEADER_WORDS..index.len() {
        for change in [|w: u32| w.wrapping_mul(2654435761).wrapping_add(7), |w: u32| w ^ vocab::CHAIN, |_| u32::MAX] {
            let mut broken = index.clone();
            broken[i] = change(broken[i]);
            if let Ok(tok) = Tokenizer::new(SMALL, &broken) {
                let mut ids = [0u32; 64];
                if let Ok(m) = tok.encode(text, &mut ids) {
                    for &id in &ids[..m] {
                        assert!(id < 20, "word {i}: id {id}");
                    }
                    // A damaged line start can change which line an id reads, so ids may differ; the slots and
                    // pilots alone cannot make a hit out of a miss of a different token.
                    let _ = (m, n);
                }
                let _ = tok.id_to_token(3);
                let _ = tok.verify(&broken);
            }
        }
    }
    // Every slot chained to the next, with the longest chain the header allows: lookups stay bounded.
    let mut full = index.clone();
    let slots = full[vocab::H_SLOTS] as usize;
    let table_start = full.len() - slots;
    for w in &mut full[table_start..] {
        *w = 5 | vocab::CHAIN;
    }
    full[vocab::H_LONGEST_CHAIN] = 20;
    let tok = Tokenizer::new(SMALL, &full);
    assert!(matches!(tok, Ok(_) | Err(VocabError::MissingSpecialToken { .. })));
    if let Ok(tok) = tok {
        let mut ids = [0u32; 8];
        let _ = tok.encode("zzz", &mut ids);
    }
    // Out-of-range header fields are refused, never indexed with.
    for (word, value) in [(vocab::H_LONGEST_CHAIN, 0), (vocab::H_LONGEST_CHAIN, 21), (vocab::H_SLOTS, 1)] {
        let mut bad = index.clone();
        bad[word] = value;
        assert_eq!(Tokenizer::new(SMALL, &bad).err(), Some(VocabError::IndexFormat), "word {word} = {value}");
    }
    // A slot id out of range: lookups skip it, `verify` names it.
    let mut bad_slot = index.clone();
    let at = table_start + bad_slot[table_start..].iter().position(|&w| w != vocab::EMPTY).unwrap();
    bad_slot[at] = (bad_slot[at] & !0x7F_FFFF) | 1000;
    if let Ok(tok) = Tokenizer::new(SMALL, &bad_slot) {
        assert_eq!(tok.verify(&bad_slot), Err(VocabError::IndexMismatch));
    }
}

#[test]
fn version_1_index_is_refused() {
    let mut index = index_of(SMALL);
    index[1] = 1;
    assert_eq!(Tokenizer::new(SMALL, &index).err(), Some(VocabError::IndexFormat));
}

/// `glbvs` and `yacxa` have the same 32-bit FNV-1a hash (found by search), and so does any common suffix: no pilot
/// can separate them, so they share a chain.
#[test]
fn tokens_with_equal_hashes_all_resolve() {
    let hash = |s: &str| s.bytes().fold(vocab::HASH_START, vocab::hash_step);
    assert_eq!(hash("glbvs"), hash("yacxa"));
    assert_eq!(hash("glbvsq"), hash("yacxaq"));
    let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nglbvs\nyacxa\nglbvs\nq\n##q\nyacxaq\nglbvsq\n";
    let index = index_of(vocab);
    let tok = Tokenizer::new(vocab, &index).unwrap();
    assert_eq!(tok.token_to_id("glbvs"), Some(7)); // the later duplicate line wins
    assert_eq!(tok.token_to_id("yacxa"), Some(6));
    assert_eq!(tok.token_to_id("yacxaq"), Some(10));
    assert_eq!(tok.token_to_id("glbvsq"), Some(11));
    assert_eq!(tok.token_to_id("glbvsqq"), None);
    assert_eq!(encode(&tok, "glbvsq yacxa glbvsqq"), [11, 6, 11, 9]);
    assert_eq!(tok.verify(&index), Ok(()));
}

/// A xorshift64 stream from `state` (nonzero): cheap fixed-seed draws for the generated vocabularies.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Every line of many generated vocabularies (sizes 1 to 600, with duplicates, trailing whitespace, CRLF, empty
/// and non-ASCII lines) looks up to its own id, or to the last line with the same token.
#[test]
fn every_token_round_trips() {
    let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
    for size in (1..40).chain([63, 64, 65, 127, 128, 129, 255, 256, 257, 600]) {
        let mut vocab = Vec::new();
        for _ in 0..size {
            let r = next();
            let len = (r % 9) as usize;
            for k in 0..len {
                let piece = ["a", "b", "c", "#", "\u{e9}", " ", "\r", "\u{4e2d}"][((r >> (8 + 3 * k)) % 8) as usize];
                vocab.extend_from_slice(piece.as_bytes());
            }
            if r >> 60 == 0 {
                vocab.extend_from_slice("\u{3000}".as_bytes()); // Unicode whitespace, trimmed
            }
            vocab.push(b'\n');
        }
        let index = index_of(&vocab);
        let opened = vocab::open(&vocab, &index).unwrap();
        let view = opened.view;
        for id in 0..size as u32 {
            let token = view.line_token(id).unwrap();
            let last = (0..size as u32).rev().find(|&j| view.line_token(j) == Some(token)).unwrap();
            assert_eq!(view.token_to_id(token), Some(last), "size {size}, id {id}, {token:?}");
            // The line with the whitespace HF trims is no token at all.
            let line = std::str::from_utf8(&vocab).unwrap().split('\n').nth(id as usize).unwrap();
            if line != token {
                assert_eq!(view.token_to_id(line), None, "{line:?}");
            }
        }
        assert_eq!(view.token_to_id("zzzz"), None);
    }
}

/// Small vocabularies full of repeated lines (a six-letter alphabet: many tokens appear two, three or more times)
/// all build, and each token finds its last line. With one spare slot per 64 tokens and no floor, 104 of 3,000 such
/// vocabularies of 10 to 70 lines failed with `NoPerfectHash` (the repeated lines need runs of free slots that a
/// table with one spare slot rarely has), and the rest spent up to 25 ms each in the pilot search.
#[test]
fn small_vocabularies_with_many_repeated_lines_build() {
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..3000 {
        let lines = 5 + (next() % 60) as usize;
        let mut vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n".to_vec();
        for _ in 0..lines {
            for _ in 0..1 + next() % 5 {
                vocab.push(b'a' + (next() % 6) as u8);
            }
            vocab.push(b'\n');
        }
        let mut index = vec![0u32; index_len(&vocab)];
        build_index(&vocab, &mut index).unwrap_or_else(|e| panic!("{e}: {:?}", std::str::from_utf8(&vocab)));
        let tok = Tokenizer::new(&vocab, &index).unwrap();
        for id in 0..tok.vocab_size() as u32 {
            let token = tok.id_to_token(id).unwrap();
            let last = (0..tok.vocab_size() as u32).rev().find(|&j| tok.id_to_token(j) == Some(token)).unwrap();
            assert_eq!(tok.token_to_id(token), Some(last));
        }
    }
}

/// An index built before the spare-slot floor (one spare slot for a small vocabulary) still opens and finds every
/// token: the reader takes the slot count from the header, anywhere from one spare slot up to today's shape.
#[test]
fn indexes_with_one_spare_slot_still_open() {
    let mut vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n".to_vec();
    vocab.extend((5..40).flat_map(|i| std::format!("w{i}\n").into_bytes()));
    let mut index = vec![0u32; vocab::index_len_with_min_spare(&vocab, 1)];
    vocab::build_with(&vocab, &mut index, 1 << 16, 8, 1).unwrap();
    assert_eq!(index.len() + 15, index_len(&vocab), "today's index of 40 tokens has 15 more slots");
    let tok = Tokenizer::new(&vocab, &index).unwrap();
    for id in 5..40u32 {
        assert_eq!(tok.token_to_id(&std::format!("w{id}")), Some(id));
    }
    assert_eq!(tok.token_to_id("w40"), None);
    assert_eq!(tok.verify(&index), Ok(()));
}

#[test]
fn bert_vocab_round_trips() {
    let vocab = include_bytes!("../../../data/vocab.txt");
    let index = index_of(vocab);
    let tok = Tokenizer::new(vocab, &index).unwrap();
    for id in 0..tok.vocab_size() as u32 {
        assert_eq!(tok.token_to_id(tok.id_to_token(id).unwrap()), Some(id));
    }
    assert_eq!(tok.verify(&index), Ok(()));
    assert_eq!(index.len(), index_len(vocab));
}

#[test]
fn bounded_search_fails_with_a_typed_error() {
    // One pilot and one seed cannot place 300 tokens at load 0.98: the build stops with an error.
    let vocab: Vec<u8> = (0..300).flat_map(|i| std::format!("t{i}\n").into_bytes()).collect();
    let mut index = vec![0u32; index_len(&vocab)];
    assert_eq!(vocab::build_with(&vocab, &mut index, 1, 1, 16), Err(VocabError::NoPerfectHash { tokens: 300 }));
    assert_eq!(build_index(&vocab, &mut index), Ok(()));
}

#[test]
fn long_lines_use_smaller_line_blocks() {
    // Lines of 40,000 bytes: a block of 4 line starts would span over 64 KiB, so blocks hold 2 (shift 1).
    let mut vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n".to_vec();
    for c in [b'x', b'y', b'z'] {
        vocab.extend(std::iter::repeat_n(c, 40_000));
        vocab.push(b'\n');
    }
    vocab.extend_from_slice(b"x\n");
    let index = index_of(&vocab);
    assert_eq!(index[vocab::H_BLOCK_SHIFT], 1);
    let tok = Tokenizer::new(&vocab, &index).unwrap();
    assert_eq!(tok.token_to_id(&"y".repeat(40_000)), Some(6));
    assert_eq!(tok.id_to_token(7).map(str::len), Some(40_000));
    assert_eq!(tok.token_to_id("x"), Some(8));
}

#[test]
fn combining_marks_reorder_like_nfd() {
    // U+1D165 (ccc 216) and U+1D16D (ccc 226) are spacing marks that survive accent stripping; NFD sorts them by
    // combining class, so both spellings give the same word.
    let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nx\n##\u{1D165}\n##\u{1D16D}\n".as_bytes();
    let index = index_of(vocab);
    let tok = Tokenizer::new(vocab, &index).unwrap();
    assert_eq!(encode(&tok, "x\u{1D16D}\u{301}\u{1D165}"), [5, 6, 7]);
    assert_eq!(encode(&tok, "x\u{1D165}\u{1D16D}"), [5, 6, 7]);
}
