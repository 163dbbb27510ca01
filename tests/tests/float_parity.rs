//! Float32 forward pass against HF transformers: every hidden state, every head's logits and the
//! four losses, from `fixtures/hf-electra-tiny` (see `fixtures/README.md`).

use electra_core::HeadKind;
use electra_train::checkpoint::HfCheckpoint;
use electra_train::infer::loss::{bce_with_logits_mean, cross_entropy_mean};
use electra_train::infer::{FloatModel, GemmBackend, InputSeq, Logits};
use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};

/// Largest absolute difference allowed between our float32 values and HF's. HF's expected values
/// were computed in float64 from the same float32 weights; ours are float32 throughout, so each
/// value carries float32 rounding (relative 6e-8 per operation) accumulated through 2 layers of
/// sums over up to 128 products, on activations of order 1–10 (initializer_range 0.2). Each test
/// prints its worst error: about 6e-6 at most when written (logits), 16× inside this bound; a real
/// semantic mistake (tanh GELU, a wrong eps, an unmasked pad) moves values by 1e-3 or more.
const PARITY_TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hf-electra-tiny")
}

struct Cases {
    bytes: Vec<u8>,
}

impl Cases {
    fn load() -> Self {
        Self { bytes: std::fs::read(fixtures().join("cases.safetensors")).expect("cases.safetensors") }
    }

    fn raw(&self, key: &str) -> (Dtype, Vec<usize>, Vec<u8>) {
        let file = SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let view = file.tensor(key).unwrap_or_else(|e| panic!("fixture key {key}: {e}"));
        (view.dtype(), view.shape().to_vec(), view.data().to_vec())
    }

    fn f32s(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let (dtype, shape, data) = self.raw(key);
        assert_eq!(dtype, Dtype::F32, "{key}");
        (shape, data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
    }

    fn i64s(&self, key: &str) -> (Vec<usize>, Vec<i64>) {
        let (dtype, shape, data) = self.raw(key);
        assert_eq!(dtype, Dtype::I64, "{key}");
        (shape, data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect())
    }

    /// The batch as HF saw it: full rows of 24 with their attention masks and token types.
    fn batch(&self, ids_key: &str) -> Vec<InputSeq> {
        let (shape, ids) = self.i64s(ids_key);
        let (_, mask) = self.i64s("attention_mask");
        let (_, types) = self.i64s("token_type_ids");
        let t = shape[1];
        (0..shape[0])
            .map(|b| InputSeq {
                input_ids: ids[b * t..(b + 1) * t].iter().map(|&v| v as u32).collect(),
                token_type_ids: Some(types[b * t..(b + 1) * t].iter().map(|&v| v as u32).collect()),
                attention_mask: Some(mask[b * t..(b + 1) * t].iter().map(|&v| v as u8).collect()),
            })
            .collect()
    }

    fn mask(&self) -> Vec<i64> {
        self.i64s("attention_mask").1
    }
}

fn model(name: &str, backend: GemmBackend) -> FloatModel {
    let checkpoint = HfCheckpoint::load(&fixtures().join(name)).expect("fixture checkpoint");
    FloatModel::from_checkpoint(&checkpoint).expect("model").with_backend(backend)
}

/// Max |ours - theirs| over the real tokens (attention mask 1) of every row; `width` values per token.
fn max_diff_on_real_tokens(ours: &[Vec<f32>], theirs: &[f32], mask: &[i64], width: usize) -> f32 {
    let t = mask.len() / ours.len();
    let mut worst = 0.0f32;
    let mut compared = 0;
    for (b, row) in ours.iter().enumerate() {
        for pos in 0..t {
            if mask[b * t + pos] != 1 {
                continue;
            }
            let want = &theirs[(b * t + pos) * width..(b * t + pos + 1) * width];
            let got = &row[pos * width..(pos + 1) * width];
            for (g, w) in got.iter().zip(want) {
                worst = worst.max((g - w).abs());
                compared += 1;
            }
        }
    }
    assert!(compared > 0);
    worst
}

fn check(what: &str, worst: f32) {
    println!("{what}: max abs diff {worst:.3e}");
    assert!(worst <= PARITY_TOLERANCE, "{what}: max abs diff {worst:e} > {PARITY_TOLERANCE:e}");
}

fn values(logits: &[Logits]) -> Vec<Vec<f32>> {
    logits.iter().map(|l| l.values().to_vec()).collect()
}

#[test]
fn discriminator_hidden_states_logits_and_loss_match_hf() {
    let cases = Cases::load();
    let batch = cases.batch("input_ids");
    let mask = cases.mask();
    for backend in GemmBackend::ALL {
        let disc = model("disc", backend);
        assert_eq!(disc.head(), HeadKind::ReplacedTokenDetection);
        let h = disc.config().hidden_size;
        let per_row: Vec<_> = batch.iter().map(|s| disc.logits_and_hidden_states(s).unwrap()).collect();
        assert_eq!(per_row[0].1.len(), 3, "embeddings + 2 layers");
        for layer in 0..3 {
            let ours: Vec<Vec<f32>> = per_row.iter().map(|(_, hs)| hs[layer].clone()).collect();
            let (_, theirs) = cases.f32s(&format!("disc.hidden.{layer}"));
            check(&format!("{backend} disc.hidden.{layer}"), max_diff_on_real_tokens(&ours, &theirs, &mask, h));
        }
        // The batched path (all cores) must agree with one sequence at a time.
        let batched = values(&disc.logits(&batch).unwrap());
        let single: Vec<Vec<f32>> = per_row.iter().map(|(l, _)| l.values().to_vec()).collect();
        let spread = batched.concat().iter().zip(single.concat()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(spread < 1e-5, "batched vs single: {spread}");
        let (_, theirs) = cases.f32s("disc.logits");
        check(&format!("{backend} disc.logits"), max_diff_on_real_tokens(&batched, &theirs, &mask, 1));

        let (_, labels) = cases.i64s("disc.labels");
        let mask_u8: Vec<u8> = mask.iter().map(|&m| m as u8).collect();
        let loss = bce_with_logits_mean(&batched.concat(), &labels, &mask_u8).unwrap();
        check(&format!("{backend} disc.loss"), (loss - cases.f32s("disc.loss").1[0]).abs());
    }
}

#[test]
fn generator_hidden_state_logits_and_loss_match_hf() {
    let cases = Cases::load();
    let batch = cases.batch("gen.input_ids");
    let mask = cases.mask();
    for backend in GemmBackend::ALL {
        let gen = model("gen", backend);
        assert_eq!(gen.head(), HeadKind::MaskedLm);
        let (h, v) = (gen.config().hidden_size, gen.config().vocab_size);
        let per_row: Vec<_> = batch.iter().map(|s| gen.logits_and_hidden_states(s).unwrap()).collect();
        let last: Vec<Vec<f32>> = per_row.iter().map(|(_, hs)| hs.last().unwrap().clone()).collect();
        let (_, theirs) = cases.f32s("gen.hidden.last");
        check(&format!("{backend} gen.hidden.last"), max_diff_on_real_tokens(&last, &theirs, &mask, h));

        let logits = values(&gen.logits(&batch).unwrap());
        let (shape, theirs) = cases.f32s("gen.logits");
        assert_eq!(shape, [3, 24, v]);
        check(&format!("{backend} gen.logits"), max_diff_on_real_tokens(&logits, &theirs, &mask, v));

        let (_, labels) = cases.i64s("gen.labels");
        let loss = cross_entropy_mean(&logits.concat(), v, &labels).unwrap();
        check(&format!("{backend} gen.loss"), (loss - cases.f32s("gen.loss").1[0]).abs());
    }
}

#[test]
fn sequence_classifier_logits_and_loss_match_hf() {
    let cases = Cases::load();
    let batch = cases.batch("input_ids");
    for backend in GemmBackend::ALL {
        let cls = model("cls", backend);
        assert_eq!(cls.head(), HeadKind::SequenceClassification { num_labels: 3 });
        let logits = values(&cls.logits(&batch).unwrap());
        let (shape, theirs) = cases.f32s("cls.logits");
        assert_eq!(shape, [3, 3]);
        let worst = logits.concat().iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        check(&format!("{backend} cls.logits"), worst);

        let (_, labels) = cases.i64s("cls.labels");
        let loss = cross_entropy_mean(&logits.concat(), 3, &labels).unwrap();
        check(&format!("{backend} cls.loss"), (loss - cases.f32s("cls.loss").1[0]).abs());
    }
}

#[test]
fn token_classifier_logits_and_loss_match_hf() {
    let cases = Cases::load();
    let batch = cases.batch("input_ids");
    let mask = cases.mask();
    for backend in GemmBackend::ALL {
        let tok = model("tok", backend);
        assert_eq!(tok.head(), HeadKind::TokenClassification { num_labels: 5 });
        let logits = tok.logits(&batch).unwrap();
        assert!(matches!(&logits[0], Logits::TokenClass { num_labels: 5, values } if values.len() == 24 * 5));
        let logits = values(&logits);
        let (_, theirs) = cases.f32s("tok.logits");
        check(&format!("{backend} tok.logits"), max_diff_on_real_tokens(&logits, &theirs, &mask, 5));

        let (_, labels) = cases.i64s("tok.labels");
        let loss = cross_entropy_mean(&logits.concat(), 5, &labels).unwrap();
        check(&format!("{backend} tok.loss"), (loss - cases.f32s("tok.loss").1[0]).abs());
    }
}

#[test]
fn trimming_padding_gives_the_same_logits_as_masking_it() {
    // Variable-length sequences without masks (what `electra infer` usually gets) against HF's padded batch.
    let cases = Cases::load();
    let mask = cases.mask();
    let trimmed: Vec<InputSeq> = cases
        .batch("input_ids")
        .into_iter()
        .map(|s| {
            let real = s.attention_mask.as_ref().unwrap().iter().filter(|&&m| m == 1).count();
            InputSeq {
                input_ids: s.input_ids[..real].to_vec(),
                token_type_ids: Some(s.token_type_ids.unwrap()[..real].to_vec()),
                attention_mask: None,
            }
        })
        .collect();
    assert!(trimmed.iter().any(|s| s.input_ids.len() < 24), "the fixture has padded rows");
    let disc = model("disc", GemmBackend::default());
    let ours = values(&disc.logits(&trimmed).unwrap());
    let (_, theirs) = cases.f32s("disc.logits");
    let t = 24;
    let mut worst = 0.0f32;
    for (b, row) in ours.iter().enumerate() {
        for (pos, v) in row.iter().enumerate() {
            assert_eq!(mask[b * t + pos], 1);
            worst = worst.max((v - theirs[b * t + pos]).abs());
        }
    }
    check("trimmed disc.logits", worst);
}
