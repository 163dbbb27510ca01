//! The model file: round trips, every kind of damage as a typed error, and a property test that
//! no mutation or truncation of a valid file makes `from_bytes` (or `run` on what it accepts) panic.

mod common;

use common::{arena, AlignedBytes, HfModel, Init};
use electra_core::model_file::format::{FileHeader, TensorEntry, MAGIC};
use electra_core::model_file::{Model, ModelFileError, FORMAT_VERSION};
use electra_core::{ElectraConfig, HeadKind};
use proptest::prelude::*;

/// A model small enough to fuzz thousands of times, with every kind of tensor.
fn micro_config() -> ElectraConfig {
    ElectraConfig {
        vocab_size: 40,
        embedding_size: 8,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 24,
        max_position_embeddings: 12,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        pad_token_id: 0,
    }
}

/// 40 lines: BERT's special tokens, then words.
fn micro_vocab() -> Vec<u8> {
    let special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map(String::from);
    let words = (5..40).map(|i| format!("w{i}"));
    special.into_iter().chain(words).map(|w| w + "\n").collect::<String>().into_bytes()
}

const HEADS: [HeadKind; 4] = [
    HeadKind::ReplacedTokenDetection,
    HeadKind::MaskedLm,
    HeadKind::SequenceClassification { num_labels: 3 },
    HeadKind::TokenClassification { num_labels: 5 },
];

fn micro_file(head: HeadKind) -> AlignedBytes {
    let model = HfModel::random(micro_config(), head, Init { std: 0.2, random_affine: true }, 11);
    model.model_file(Some(&micro_vocab()))
}

/// Recomputes the CRC after an edit, so that the edit reaches the checks behind it.
fn fix_crc(bytes: &mut [u8]) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..24]);
    hasher.update(&bytes[28..]);
    let crc = hasher.finalize();
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
}

fn parse(bytes: &[u8]) -> Result<(), ModelFileError> {
    Model::from_bytes(AlignedBytes::from(bytes).bytes()).map(drop)
}

#[test]
fn round_trip_every_head() {
    for head in HEADS {
        let file = micro_file(head);
        let model = Model::from_bytes(file.bytes()).unwrap();
        assert_eq!(*model.config(), micro_config());
        assert_eq!(model.head(), head);
        assert_eq!(model.vocab(), Some(&micro_vocab()[..]));
        let tokenizer = model.tokenizer().expect("embedded tokenizer");
        let mut ids = [0u32; 8];
        let n = tokenizer.encode("w7 W12 w99", &mut ids).unwrap();
        assert_eq!(&ids[..n], &[7, 12, 1]);
        let mut a = arena(model.arena_bytes(7));
        let logits = model.run(&[2, 5, 9, 39, 0, 3, 1], None, bytemuck::cast_slice_mut(&mut a)).unwrap();
        let expected = match head {
            HeadKind::ReplacedTokenDetection => (7, 1),
            HeadKind::MaskedLm => (7, 40),
            HeadKind::SequenceClassification { num_labels } => (1, num_labels),
            HeadKind::TokenClassification { num_labels } => (7, num_labels),
        };
        assert_eq!((logits.rows, logits.cols), expected);
        assert!(logits.values.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn typed_errors_for_each_kind_of_damage() {
    let file = micro_file(HeadKind::ReplacedTokenDetection);
    let good = file.bytes().to_vec();

    assert_eq!(parse(&good[..10]), Err(ModelFileError::TooShort { len: 10 }));
    assert_eq!(parse(b"{\"not\": \"a model file at all, just some json text\"}"), Err(ModelFileError::NotAModelFile));

    let truncated = &good[..good.len() - 100];
    assert_eq!(
        parse(truncated),
        Err(ModelFileError::LengthMismatch { expected: good.len() as u64, actual: good.len() - 100 })
    );
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 8]);
    assert!(matches!(parse(&longer), Err(ModelFileError::LengthMismatch { .. })));

    let mut flipped = good.clone();
    let at = good.len() / 2;
    flipped[at] ^= 0x10;
    assert!(matches!(parse(&flipped), Err(ModelFileError::ChecksumMismatch { .. })));

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fix_crc(&mut newer);
    assert_eq!(
        parse(&newer),
        Err(ModelFileError::NewerVersion { found: FORMAT_VERSION + 1, supported: FORMAT_VERSION })
    );
    let msg = ModelFileError::NewerVersion { found: 2, supported: 1 }.to_string();
    assert!(msg.contains("newer"), "{msg}");

    let mut zero_version = good.clone();
    zero_version[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(parse(&zero_version), Err(ModelFileError::UnknownVersion { found: 0 }));

    // Misaligned in memory: the same bytes one past an aligned address.
    let mut shifted = AlignedBytes::from(&[&[0u8][..], &good[..]].concat());
    let misaligned = &shifted.bytes_mut()[1..];
    assert!(matches!(Model::from_bytes(misaligned), Err(ModelFileError::Misaligned { required: 4, .. })));
}

/// Decodes the header and directory of a file.
fn directory(bytes: &[u8]) -> (FileHeader, Vec<TensorEntry<'_>>) {
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let (header, mut rest) = postcard::take_from_bytes::<FileHeader>(&bytes[32..32 + header_len]).unwrap();
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let (e, r) = postcard::take_from_bytes::<TensorEntry>(rest).unwrap();
        entries.push(e);
        rest = r;
    }
    (header, entries)
}

/// Re-encodes an edited directory in place (it must not grow past the data offset) with a valid CRC.
fn rewrite(bytes: &[u8], header: &FileHeader, entries: &[TensorEntry]) -> Vec<u8> {
    let mut encoded = postcard::to_stdvec(header).unwrap();
    for e in entries {
        encoded.extend(postcard::to_stdvec(e).unwrap());
    }
    let mut out = bytes.to_vec();
    assert!(32 + encoded.len() <= header.data_offset as usize, "edited header does not fit");
    out[32..header.data_offset as usize].fill(0);
    out[32..32 + encoded.len()].copy_from_slice(&encoded);
    out[12..16].copy_from_slice(&(encoded.len() as u32).to_le_bytes());
    fix_crc(&mut out);
    out
}

#[test]
fn crafted_directories_with_valid_crc_are_typed_errors() {
    let file = micro_file(HeadKind::TokenClassification { num_labels: 5 });
    let good = file.bytes().to_vec();
    let (header, entries) = directory(&good);
    assert_eq!(parse(&rewrite(&good, &header, &entries)), Ok(()), "rewriting unchanged must round-trip");

    // An offset past the end of the file.
    let mut e = entries.clone();
    e[3].offset = good.len() as u64 + 64;
    assert!(matches!(parse(&rewrite(&good, &header, &e)), Err(ModelFileError::TensorOutOfRange { .. })));
    // An offset that overflows.
    let mut e = entries.clone();
    e[5].len = u64::MAX - 3;
    // The 10-byte varint must still fit before the data: shorten the last name (checked later).
    if let Some(last) = e.last_mut() {
        last.name = "";
    }
    assert!(matches!(parse(&rewrite(&good, &header, &e)), Err(ModelFileError::TensorOutOfRange { .. })));
    // In range but not where the layout puts it (overlapping another tensor).
    let mut e = entries.clone();
    e[4].offset = e[2].offset;
    assert_eq!(
        parse(&rewrite(&good, &header, &e)),
        Err(ModelFileError::TensorMismatch { index: 4, expected: e[4].name.try_into().unwrap(), field: "offset" })
    );
    // Wrong dtype, wrong shape, wrong name.
    let mut e = entries.clone();
    e[0].dtype = electra_core::model_file::format::DType::F32;
    assert!(matches!(parse(&rewrite(&good, &header, &e)), Err(ModelFileError::TensorMismatch { field: "dtype", .. })));
    let mut e = entries.clone();
    e[0].shape = [41, 8];
    assert!(matches!(parse(&rewrite(&good, &header, &e)), Err(ModelFileError::TensorMismatch { field: "shape", .. })));
    let mut e = entries.clone();
    e[1].name = "electra.embeddings.word_embeddings.weight_scalX";
    assert!(matches!(parse(&rewrite(&good, &header, &e)), Err(ModelFileError::TensorMismatch { field: "name", .. })));
    // A directory with a tensor missing.
    let mut h = header;
    h.tensor_count -= 1;
    assert!(matches!(
        parse(&rewrite(&good, &h, &entries[..entries.len() - 1])),
        Err(ModelFileError::TensorCountMismatch { .. })
    ));
    // A config that does not validate.
    let mut h = header;
    h.config.num_attention_heads = 3;
    assert!(matches!(parse(&rewrite(&good, &h, &entries)), Err(ModelFileError::BadConfig(_))));
    // A NaN scale.
    let mut bad = good.clone();
    let at = entries[1].offset as usize + 4;
    bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    fix_crc(&mut bad);
    assert_eq!(
        parse(&bad),
        Err(ModelFileError::BadValue {
            tensor: "electra.embeddings.word_embeddings.weight_scale".try_into().unwrap(),
            index: 1
        })
    );
    // A vocab with a line too many.
    let vocab_entry = entries.iter().find(|e| e.name == "vocab.txt").unwrap();
    let mut bad = good.clone();
    let at = vocab_entry.offset as usize + 3;
    bad[at] = b'\n';
    fix_crc(&mut bad);
    assert_eq!(parse(&bad), Err(ModelFileError::VocabSizeMismatch { lines: 41, vocab_size: 40 }));
    // Garbage where the header should be.
    let mut bad = good.clone();
    bad[32..40].fill(0xff);
    fix_crc(&mut bad);
    assert!(matches!(parse(&bad), Err(ModelFileError::BadHeader { .. })));
}

#[test]
fn magic_is_png_style() {
    assert_eq!(&MAGIC[1..4], b"ELQ");
}

/// Parses `bytes` (with and without the checksum); if accepted, runs a short sequence on it.
/// Neither may panic.
fn parse_and_run(bytes: &[u8]) {
    let aligned = AlignedBytes::from(bytes);
    for model in [Model::from_bytes(aligned.bytes()), Model::from_bytes_skip_checksum(aligned.bytes())] {
        let Ok(model) = model else { continue };
        let t = 5.min(model.config().max_position_embeddings);
        let ids: Vec<u32> = (0..t as u32).map(|i| i % model.config().vocab_size as u32).collect();
        let len = model.arena_bytes(t);
        if len < 1 << 24 {
            let mut a = arena(len);
            let _ = model.run(&ids, None, bytemuck::cast_slice_mut(&mut a));
        }
    }
}

#[test]
fn skipping_the_checksum_still_checks_everything_else() {
    let file = micro_file(HeadKind::ReplacedTokenDetection);
    let mut bad = file.bytes().to_vec();
    let at = directory(file.bytes()).1[0].offset as usize + 5;
    bad[at] ^= 1; // an int8 word embedding: only the CRC notices
    let aligned = AlignedBytes::from(&bad);
    assert!(matches!(Model::from_bytes(aligned.bytes()), Err(ModelFileError::ChecksumMismatch { .. })));
    assert!(Model::from_bytes_skip_checksum(aligned.bytes()).is_ok());
    let mut bad = file.bytes().to_vec();
    bad[12..16].fill(0); // header length 0: nothing to decode
    let aligned = AlignedBytes::from(&bad);
    assert!(Model::from_bytes_skip_checksum(aligned.bytes()).is_err());
}

#[derive(Debug, Clone)]
enum Edit {
    Set { at: usize, value: u8 },
    Xor { at: usize, mask: u8 },
    Truncate { len: usize },
    Insert { at: usize, value: u8 },
    Remove { at: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0usize..1 << 20;
    prop_oneof![
        (at.clone(), any::<u8>()).prop_map(|(at, value)| Edit::Set { at, value }),
        (at.clone(), 1u8..).prop_map(|(at, mask)| Edit::Xor { at, mask }),
        (0usize..1 << 20).prop_map(|len| Edit::Truncate { len }),
        (at.clone(), any::<u8>()).prop_map(|(at, value)| Edit::Insert { at, value }),
        at.prop_map(|at| Edit::Remove { at }),
    ]
}

/// Edits biased to the preamble and header, where the structure lives.
fn apply(bytes: &mut Vec<u8>, edit: &Edit, header_end: usize) {
    let pick =
        |at: usize, len: usize| if at.is_multiple_of(2) { at % header_end.min(len).max(1) } else { at % len.max(1) };
    match *edit {
        Edit::Set { at, value } => {
            let i = pick(at, bytes.len());
            if i < bytes.len() {
                bytes[i] = value;
            }
        }
        Edit::Xor { at, mask } => {
            let i = pick(at, bytes.len());
            if i < bytes.len() {
                bytes[i] ^= mask;
            }
        }
        Edit::Truncate { len } => bytes.truncate(len % (bytes.len() + 1)),
        Edit::Insert { at, value } => {
            let i = pick(at, bytes.len() + 1).min(bytes.len());
            bytes.insert(i, value);
        }
        Edit::Remove { at } => {
            if !bytes.is_empty() {
                let i = pick(at, bytes.len()).min(bytes.len() - 1);
                bytes.remove(i);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Raw damage: caught by the length or CRC check (or earlier), never a panic.
    #[test]
    fn damaged_files_never_panic(edits in prop::collection::vec(edit(), 1..4), head in 0usize..4) {
        let file = micro_file(HEADS[head]);
        let mut bytes = file.bytes().to_vec();
        let header_end = 32 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        for e in &edits {
            apply(&mut bytes, e, header_end);
        }
        prop_assert!(parse(&bytes).is_err() || bytes == file.bytes());
        parse_and_run(&bytes);
    }

    /// Damage with the length and CRC fixed up, so every check behind them is exercised.
    #[test]
    fn damaged_files_with_valid_crc_never_panic(edits in prop::collection::vec(edit(), 1..4), head in 0usize..4) {
        let file = micro_file(HEADS[head]);
        let mut bytes = file.bytes().to_vec();
        let header_end = 32 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        for e in &edits {
            apply(&mut bytes, e, header_end);
        }
        if bytes.len() >= 32 {
            let len = bytes.len() as u64;
            bytes[16..24].copy_from_slice(&len.to_le_bytes());
            fix_crc(&mut bytes);
        }
        parse_and_run(&bytes);
    }
}
