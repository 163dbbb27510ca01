//! Shared by the model-file and int8 accuracy tests: random HF-named ELECTRA weights, a model file
//! built from them, and a plain float32 reference forward pass written from the HF module code
//! (independent of the crate's layout and encoder), with optional simulated quantization.
#![allow(dead_code)]

use electra_core::model_file::{model_file_len, write_model_file, Int4Tensors, LabelsSpec, ModelFileSpec};
use electra_core::{ElectraConfig, HeadKind};
use std::collections::BTreeMap;

/// SplitMix64 + Box-Muller: fixed-seed normal samples.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// HF-named float tensors of one model.
pub struct HfModel {
    pub config: ElectraConfig,
    pub head: HeadKind,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// How to initialize: HF's `_init_weights` (`std` normal weights, zero biases, LayerNorm 1/0,
/// zero padding row), or, with `random_affine`, random biases and LayerNorm parameters too (like
/// the tiny fixtures).
#[derive(Clone, Copy)]
pub struct Init {
    pub std: f32,
    pub random_affine: bool,
}

impl HfModel {
    pub fn random(config: ElectraConfig, head: HeadKind, init: Init, seed: u64) -> Self {
        let mut m = HfModel { config, head, tensors: BTreeMap::new() };
        let mut rng = Rng(seed);
        let (v, e, h, f) = (config.vocab_size, config.embedding_size, config.hidden_size, config.intermediate_size);
        m.embedding(&mut rng, init, "electra.embeddings.word_embeddings", v, e, Some(config.pad_token_id));
        m.embedding(&mut rng, init, "electra.embeddings.position_embeddings", config.max_position_embeddings, e, None);
        m.embedding(&mut rng, init, "electra.embeddings.token_type_embeddings", config.type_vocab_size, e, None);
        m.layer_norm(&mut rng, init, "electra.embeddings.LayerNorm", e);
        if e != h {
            m.linear(&mut rng, init, "electra.embeddings_project", h, e);
        }
        for l in 0..config.num_hidden_layers {
            let p = format!("electra.encoder.layer.{l}.");
            for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]
            {
                m.linear(&mut rng, init, &(p.clone() + name), h, h);
            }
            m.layer_norm(&mut rng, init, &(p.clone() + "attention.output.LayerNorm"), h);
            m.linear(&mut rng, init, &(p.clone() + "intermediate.dense"), f, h);
            m.linear(&mut rng, init, &(p.clone() + "output.dense"), h, f);
            m.layer_norm(&mut rng, init, &(p + "output.LayerNorm"), h);
        }
        match head {
            HeadKind::ReplacedTokenDetection => {
                m.linear(&mut rng, init, "discriminator_predictions.dense", h, h);
                m.linear(&mut rng, init, "discriminator_predictions.dense_prediction", 1, h);
            }
            HeadKind::MaskedLm => {
                m.linear(&mut rng, init, "generator_predictions.dense", e, h);
                m.layer_norm(&mut rng, init, "generator_predictions.LayerNorm", e);
                let bias = m.vector(&mut rng, init, v);
                m.tensors.insert("generator_lm_head.bias".into(), (vec![v], bias));
            }
            HeadKind::SequenceClassification { num_labels } => {
                m.linear(&mut rng, init, "classifier.dense", h, h);
                m.linear(&mut rng, init, "classifier.out_proj", num_labels, h);
            }
            HeadKind::TokenClassification { num_labels } => m.linear(&mut rng, init, "classifier", num_labels, h),
        }
        m
    }

    fn vector(&self, rng: &mut Rng, init: Init, n: usize) -> Vec<f32> {
        (0..n).map(|_| if init.random_affine { init.std * rng.normal() } else { 0.0 }).collect()
    }

    fn linear(&mut self, rng: &mut Rng, init: Init, prefix: &str, n_out: usize, n_in: usize) {
        let w = (0..n_out * n_in).map(|_| init.std * rng.normal()).collect();
        let b = self.vector(rng, init, n_out);
        self.tensors.insert(format!("{prefix}.weight"), (vec![n_out, n_in], w));
        self.tensors.insert(format!("{prefix}.bias"), (vec![n_out], b));
    }

    fn layer_norm(&mut self, rng: &mut Rng, init: Init, prefix: &str, n: usize) {
        let w = (0..n).map(|_| if init.random_affine { 1.0 + init.std * rng.normal() } else { 1.0 }).collect();
        let b = self.vector(rng, init, n);
        self.tensors.insert(format!("{prefix}.weight"), (vec![n], w));
        self.tensors.insert(format!("{prefix}.bias"), (vec![n], b));
    }

    fn embedding(&mut self, rng: &mut Rng, init: Init, prefix: &str, rows: usize, dim: usize, pad: Option<usize>) {
        let mut w: Vec<f32> = (0..rows * dim).map(|_| init.std * rng.normal()).collect();
        if let Some(p) = pad {
            w[p * dim..(p + 1) * dim].fill(0.0);
        }
        self.tensors.insert(format!("{prefix}.weight"), (vec![rows, dim], w));
    }

    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&[f32], String> {
        let (s, data) = self.tensors.get(name).ok_or_else(|| format!("no tensor {name}"))?;
        if s != shape {
            return Err(format!("{name}: shape {s:?}, asked {shape:?}"));
        }
        Ok(data)
    }

    fn t(&self, name: &str) -> &[f32] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("no tensor {name}")).1
    }

    /// The model file of these weights, in 8-byte aligned memory, with `vocab` and its tokenizer
    /// index embedded when given.
    pub fn model_file(&self, vocab: Option<&[u8]>) -> AlignedBytes {
        self.model_file_with_labels(vocab, None)
    }

    /// [`HfModel::model_file`] with a labels section when `labels` is given (format version 2).
    pub fn model_file_with_labels(&self, vocab: Option<&[u8]>, labels: Option<LabelsSpec>) -> AlignedBytes {
        self.model_file_int4(vocab, labels, None)
    }

    /// [`HfModel::model_file_with_labels`] with the encoder linears `int4` names stored as int4
    /// (format version 4).
    pub fn model_file_int4(
        &self,
        vocab: Option<&[u8]>,
        labels: Option<LabelsSpec>,
        int4: Option<Int4Tensors>,
    ) -> AlignedBytes {
        let index = vocab.map(|v| {
            let mut index = vec![0u32; electra_core::tokenizer::index_len(v)];
            electra_core::tokenizer::build_index(v, &mut index).unwrap();
            index
        });
        let spec = ModelFileSpec {
            config: self.config,
            head: self.head,
            vocab,
            tokenizer_index: index.as_deref(),
            labels,
            int4,
            word_int4_group: None,
            int4_scales: electra_core::model_file::FloatType::F32,
            biases_and_norms: electra_core::model_file::FloatType::F32,
        };
        let len = model_file_len::<String>(&spec).unwrap();
        let mut out = vec![0u8; len];
        write_model_file(&spec, |name, shape| self.get(name, shape), &mut out).unwrap();
        AlignedBytes::from(&out[..])
    }
}

/// Bytes in `u64` storage, so that `f32` tensors can be borrowed in place.
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    pub fn from(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self { words, len: bytes.len() }
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.words)[..self.len]
    }
}

/// A 16-byte aligned arena of `len` bytes.
pub fn arena(len: usize) -> Vec<u128> {
    vec![0u128; len.div_ceil(16)]
}

/// What the reference does to the input of every linear layer (and to the weights).
#[derive(Clone, Copy, PartialEq)]
pub enum Sim<'c> {
    /// Plain float32.
    Float,
    /// Per-channel int8 weights and per-row dynamic int8 activations, simulated in float.
    DynamicPerRow,
    /// Per-channel int8 weights and one calibrated scale per linear-layer input (`max |x|` seen
    /// on calibration data, by call site).
    Calibrated(&'c BTreeMap<String, f32>),
    /// Float32, recording `max |x|` per linear-layer input into the calibration table.
    Calibrate,
    /// [`Sim::DynamicPerRow`], but every encoder layer's linear weights int4 with one scale per
    /// group of this many inputs (`max |w| / 7`, round to nearest), as `Int4Tensors::all` writes.
    DynamicPerRowInt4(usize),
}

fn fake_quant_groups_i4(w: &mut [f32], group: usize) {
    for g in w.chunks_mut(group) {
        let amax = g.iter().fold(0f32, |m, v| m.max(v.abs()));
        if amax > 0.0 {
            let s = amax / 7.0;
            g.iter_mut().for_each(|v| *v = (*v / s).round().clamp(-7.0, 7.0) * s);
        }
    }
}

fn fake_quant_rows(x: &mut [f32], cols: usize) {
    for row in x.chunks_mut(cols) {
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if amax > 0.0 {
            let s = amax / 127.0;
            row.iter_mut().for_each(|v| *v = (*v / s).round().clamp(-127.0, 127.0) * s);
        }
    }
}

fn fake_quant_fixed(x: &mut [f32], amax: f32) {
    if amax > 0.0 {
        let s = amax / 127.0;
        x.iter_mut().for_each(|v| *v = (*v / s).round().clamp(-127.0, 127.0) * s);
    }
}

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2))
}

fn layer_norm(x: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    let n = w.len();
    for row in x.chunks_mut(n) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for ((v, &g), &bb) in row.iter_mut().zip(w).zip(b) {
            *v = ((*v as f64 - mean) * inv) as f32 * g + bb;
        }
    }
}

/// The float reference, one sequence, no padding, HF module by module.
pub struct Reference<'m, 'c> {
    pub model: &'m HfModel,
    pub sim: Sim<'c>,
    /// Filled in `Sim::Calibrate` mode.
    pub calibration: BTreeMap<String, f32>,
}

impl<'m, 'c> Reference<'m, 'c> {
    pub fn new(model: &'m HfModel, sim: Sim<'c>) -> Self {
        Self { model, sim, calibration: BTreeMap::new() }
    }

    /// `y = x · Wᵀ + b` for `x` `[rows, n_in]`, with the simulated quantization of `self.sim`.
    fn linear_w(&mut self, site: &str, x: &[f32], w: &[f32], b: &[f32], n_in: usize) -> Vec<f32> {
        let n_out = w.len() / n_in;
        let mut x = x.to_vec();
        let mut w = w.to_vec();
        match self.sim {
            Sim::Float => {}
            Sim::Calibrate => {
                let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                let e = self.calibration.entry(site.to_string()).or_insert(0.0);
                *e = e.max(amax);
            }
            Sim::DynamicPerRow => {
                fake_quant_rows(&mut x, n_in);
                fake_quant_rows(&mut w, n_in);
            }
            Sim::DynamicPerRowInt4(group) => {
                fake_quant_rows(&mut x, n_in);
                if site.starts_with("electra.encoder.layer.") {
                    fake_quant_groups_i4(&mut w, group);
                } else {
                    fake_quant_rows(&mut w, n_in);
                }
            }
            Sim::Calibrated(table) => {
                fake_quant_fixed(&mut x, table[site]);
                fake_quant_rows(&mut w, n_in);
            }
        }
        let rows = x.len() / n_in;
        let mut y = vec![0f32; rows * n_out];
        for r in 0..rows {
            let xr = &x[r * n_in..(r + 1) * n_in];
            for o in 0..n_out {
                let wr = &w[o * n_in..(o + 1) * n_in];
                let mut lanes = [0f32; 8];
                for (xc, wc) in xr.chunks(8).zip(wr.chunks(8)) {
                    for i in 0..xc.len() {
                        lanes[i] += xc[i] * wc[i];
                    }
                }
                y[r * n_out + o] = lanes.iter().sum::<f32>() + b[o];
            }
        }
        y
    }

    fn linear(&mut self, prefix: &str, x: &[f32], n_in: usize) -> Vec<f32> {
        let w = self.model.t(&format!("{prefix}.weight")).to_vec();
        let b = self.model.t(&format!("{prefix}.bias")).to_vec();
        self.linear_w(prefix, x, &w, &b, n_in)
    }

    fn ln(&self, prefix: &str, x: &mut [f32]) {
        let m = self.model;
        layer_norm(x, m.t(&format!("{prefix}.weight")), m.t(&format!("{prefix}.bias")), m.config.layer_norm_eps);
    }

    /// Logits, flattened as `Model::run` returns them.
    pub fn forward(&mut self, ids: &[u32], types: &[u32]) -> Vec<f32> {
        let c = self.model.config;
        let (t, e, h, a) = (ids.len(), c.embedding_size, c.hidden_size, c.num_attention_heads);
        let d = h / a;
        let m = self.model;
        let word = m.t("electra.embeddings.word_embeddings.weight");
        let pos = m.t("electra.embeddings.position_embeddings.weight");
        let typ = m.t("electra.embeddings.token_type_embeddings.weight");
        let mut x = vec![0f32; t * e];
        for i in 0..t {
            let (id, tt) = (ids[i] as usize, types[i] as usize);
            for j in 0..e {
                x[i * e + j] = word[id * e + j] + typ[tt * e + j] + pos[i * e + j];
            }
        }
        self.ln("electra.embeddings.LayerNorm", &mut x);
        if e != h {
            x = self.linear("electra.embeddings_project", &x, e);
        }
        for l in 0..c.num_hidden_layers {
            let p = format!("electra.encoder.layer.{l}.");
            let q = self.linear(&(p.clone() + "attention.self.query"), &x, h);
            let k = self.linear(&(p.clone() + "attention.self.key"), &x, h);
            let v = self.linear(&(p.clone() + "attention.self.value"), &x, h);
            let mut ctx = vec![0f32; t * h];
            let scale = 1.0 / (d as f32).sqrt();
            for head in 0..a {
                for i in 0..t {
                    let mut s: Vec<f32> = (0..t)
                        .map(|j| (0..d).map(|z| q[i * h + head * d + z] * k[j * h + head * d + z]).sum::<f32>() * scale)
                        .collect();
                    let max = s.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    s.iter_mut().for_each(|v| *v = (*v - max).exp());
                    let sum: f32 = s.iter().sum();
                    for z in 0..d {
                        ctx[i * h + head * d + z] = (0..t).map(|j| s[j] / sum * v[j * h + head * d + z]).sum();
                    }
                }
            }
            let mut x1 = self.linear(&(p.clone() + "attention.output.dense"), &ctx, h);
            x1.iter_mut().zip(&x).for_each(|(a, b)| *a += b);
            self.ln(&(p.clone() + "attention.output.LayerNorm"), &mut x1);
            let mut inter = self.linear(&(p.clone() + "intermediate.dense"), &x1, h);
            inter.iter_mut().for_each(|v| *v = gelu(*v));
            let mut x2 = self.linear(&(p.clone() + "output.dense"), &inter, c.intermediate_size);
            x2.iter_mut().zip(&x1).for_each(|(a, b)| *a += b);
            self.ln(&(p + "output.LayerNorm"), &mut x2);
            x = x2;
        }
        match self.model.head {
            HeadKind::ReplacedTokenDetection => {
                let mut y = self.linear("discriminator_predictions.dense", &x, h);
                y.iter_mut().for_each(|v| *v = gelu(*v));
                self.linear("discriminator_predictions.dense_prediction", &y, h)
            }
            HeadKind::MaskedLm => {
                let mut y = self.linear("generator_predictions.dense", &x, h);
                y.iter_mut().for_each(|v| *v = gelu(*v));
                self.ln("generator_predictions.LayerNorm", &mut y);
                let w = m.t("electra.embeddings.word_embeddings.weight").to_vec();
                let b = m.t("generator_lm_head.bias").to_vec();
                self.linear_w("generator_lm_head", &y, &w, &b, e)
            }
            HeadKind::SequenceClassification { .. } => {
                let mut y = self.linear("classifier.dense", &x[..h], h);
                y.iter_mut().for_each(|v| *v = gelu(*v));
                self.linear("classifier.out_proj", &y, h)
            }
            HeadKind::TokenClassification { .. } => self.linear("classifier", &x, h),
        }
    }
}

/// Pearson correlation.
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

/// Random token ids in `[5, vocab)` (past the tiny fixtures' special ids), a [CLS]-like first id.
pub fn random_ids(rng: &mut Rng, t: usize, vocab: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..t).map(|_| 5 + (rng.next_u64() % (vocab as u64 - 5)) as u32).collect();
    ids[0] = 2;
    ids
}
