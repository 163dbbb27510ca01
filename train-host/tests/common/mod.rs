//! What the integration tests share, each piece written once: reading `fixtures/hf-electra-tiny/cases.safetensors`
//! (HF transformers' expected values) and comparing against them with named tolerances (here), running the
//! `electra` binary ([`cli`]) and the tiny pair pre-trained on topic sequences ([`topics`]).
//! Each test file takes the module whole, so what one file does not use is dead code there.
#![allow(dead_code)]

pub mod cli;
pub mod topics;

use electra_train::checkpoint::HfCheckpoint;
use electra_train::model::{TaskModel, Tokens};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/hf-electra-tiny"))
}

/// One model of the fixture folder: `disc`, `gen`, `cls`, `tok`, `reg`.
pub fn fixture(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

/// Forward values (hidden states, logits, losses): the fixture is float64 arithmetic on the float32 weights;
/// float32 arithmetic through two encoder blocks drifts by ~1e-6 relative on values of magnitude ≤ ~10, so
/// 1e-4 absolute leaves two orders of margin while any wrong term (O(0.01) or more) fails.
pub const FORWARD_ABS_TOL: f32 = 1e-4;
/// Gradients: each tensor within `GRAD_REL_TOL × its largest |value| + GRAD_ABS_TOL`. Relative to the tensor's
/// scale because gradients span many magnitudes between tensors; 1e-4 is ~1000× float32's roundoff and far
/// below the effect of any missing or wrong term; the absolute floor covers tensors whose true gradient is ~0.
pub const GRAD_REL_TOL: f32 = 1e-4;
pub const GRAD_ABS_TOL: f32 = 1e-6;

pub struct Cases {
    pub f32s: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub i64s: BTreeMap<String, (Vec<usize>, Vec<i64>)>,
}

impl Cases {
    pub fn load() -> Self {
        Self::load_file("cases.safetensors")
    }

    /// Another safetensors file of the fixture folder (e.g. `finetune.safetensors`).
    pub fn load_file(name: &str) -> Self {
        let bytes = std::fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let file = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("parse {name}: {e}"));
        let (mut f32s, mut i64s) = (BTreeMap::new(), BTreeMap::new());
        for (name, view) in file.tensors() {
            let shape = view.shape().to_vec();
            match view.dtype() {
                Dtype::F32 => {
                    let v = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                    f32s.insert(name, (shape, v));
                }
                Dtype::I64 => {
                    let v = view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
                    i64s.insert(name, (shape, v));
                }
                other => panic!("unexpected dtype {other:?} for {name}"),
            }
        }
        Self { f32s, i64s }
    }

    pub fn f32(&self, name: &str) -> &[f32] {
        &self.f32s.get(name).unwrap_or_else(|| panic!("fixture has no {name}")).1
    }

    pub fn i64(&self, name: &str) -> &[i64] {
        &self.i64s.get(name).unwrap_or_else(|| panic!("fixture has no {name}")).1
    }

    pub fn ids(&self, name: &str) -> Vec<u32> {
        self.i64(name).iter().map(|&v| v as u32).collect()
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        self.i64(name).iter().map(|&v| v as u8).collect()
    }

    /// A float32 or int64 tensor's shape and values as float64 (both are exact in float64 here).
    pub fn f64s(&self, name: &str) -> (Vec<usize>, Vec<f64>) {
        match (self.f32s.get(name), self.i64s.get(name)) {
            (Some((shape, v)), _) => (shape.clone(), v.iter().map(|&x| f64::from(x)).collect()),
            (None, Some((shape, v))) => (shape.clone(), v.iter().map(|&x| x as f64).collect()),
            (None, None) => panic!("fixture has no {name}"),
        }
    }

    /// Names under `prefix` (without it), e.g. every parameter of `disc.grad.`.
    pub fn names_under(&self, prefix: &str) -> Vec<String> {
        self.f32s.keys().filter_map(|k| k.strip_prefix(prefix).map(str::to_string)).collect()
    }
}

/// The fixture's three cases (`[3, 24]`) as the model's input: ids, token types and attention mask.
pub struct Inputs {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u8>,
    pub attention_mask: Vec<u8>,
}

impl Inputs {
    /// The cases with the ids under `ids_key` (`input_ids`, or `gen.input_ids` for the masked ones).
    pub fn new(cases: &Cases, ids_key: &str) -> Self {
        Self {
            input_ids: cases.ids(ids_key),
            token_type_ids: cases.bytes("token_type_ids"),
            attention_mask: cases.bytes("attention_mask"),
        }
    }

    pub fn tokens(&self) -> Tokens<'_> {
        Tokens {
            batch_size: 3,
            seq_len: 24,
            input_ids: &self.input_ids,
            token_type_ids: &self.token_type_ids,
            attention_mask: &self.attention_mask,
        }
    }
}

/// A fixture model (`disc`, `gen`, `cls`, `tok`, `reg`) loaded for training.
pub fn task_model(name: &str) -> TaskModel {
    TaskModel::from_checkpoint(&HfCheckpoint::load(&fixture(name)).unwrap()).unwrap()
}

/// Pearson correlation of two equally long series.
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

/// Largest `|got − want|`.
pub fn max_abs_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "length");
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// Forward values within [`FORWARD_ABS_TOL`].
pub fn assert_forward(what: &str, got: &[f32], want: &[f32]) {
    let d = max_abs_diff(got, want);
    assert!(d <= FORWARD_ABS_TOL, "{what}: max |diff| {d} > {FORWARD_ABS_TOL}");
}

/// One gradient tensor within `GRAD_REL_TOL·max|want| + GRAD_ABS_TOL`; returns the fraction of that
/// tolerance used.
pub fn assert_grad(what: &str, got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = max_abs_diff(got, want);
    let tol = GRAD_REL_TOL * scale + GRAD_ABS_TOL;
    assert!(d <= tol, "{what}: max |diff| {d} > {tol} (largest |grad| {scale})");
    d / tol
}
