//! Writes an HF `ElectraForPreTraining` checkpoint with freshly initialized weights, the way HF's
//! `_init_weights` does it (normal(0, initializer_range) weights and embeddings, zero biases, LayerNorm 1 and 0, a
//! zero padding row), for a preset config. `electra export` turns it into a model file; the firmware test
//! (`scripts/test.d/50-firmware-qemu.sh`) and the firmware benchmarks use it so that they need neither a trained
//! model nor Python.
//!
//! ```sh
//! cargo run --release -p electra-train --example random_checkpoint -- \
//!     --preset small --seed 1 --vocab data/vocab.txt --out target/electra-small-random
//! ```

use anyhow::Context;
use clap::Parser;
use electra_core::{ElectraConfig, HeadKind};
use electra_train::checkpoint::{save_hf_checkpoint, NamedTensor};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// `tiny` (ElectraConfig::tiny) or `small` (ELECTRA-Small, ElectraConfig::small).
    #[arg(long)]
    preset: String,
    /// Seed of the weights: the same seed writes the same checkpoint.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Standard deviation of the weights (HF `initializer_range`; ELECTRA's is 0.02).
    #[arg(long, default_value_t = 0.02)]
    init_std: f32,
    /// `vocab.txt` copied into the checkpoint; its line count must equal the preset's vocab size.
    #[arg(long)]
    vocab: PathBuf,
    /// Checkpoint directory to write (atomically).
    #[arg(long)]
    out: PathBuf,
}

/// SplitMix64 for the bits, Box-Muller for normal samples: fixed-seed and dependency-free.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The tensors of `ElectraForPreTraining` under their HF names, HF-initialized.
fn init_discriminator(config: &ElectraConfig, std: f32, rng: &mut Rng) -> Vec<NamedTensor> {
    let (v, e, h, f) = (config.vocab_size, config.embedding_size, config.hidden_size, config.intermediate_size);
    let mut tensors = Vec::new();
    let mut normal = |name: &str, shape: Vec<usize>| {
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| (rng.normal() * f64::from(std)) as f32).collect();
        tensors.push((name.to_string(), shape, data));
    };
    normal("electra.embeddings.word_embeddings.weight", vec![v, e]);
    normal("electra.embeddings.position_embeddings.weight", vec![config.max_position_embeddings, e]);
    normal("electra.embeddings.token_type_embeddings.weight", vec![config.type_vocab_size, e]);
    if config.has_embeddings_project() {
        normal("electra.embeddings_project.weight", vec![h, e]);
    }
    for l in 0..config.num_hidden_layers {
        let p = format!("electra.encoder.layer.{l}.");
        for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            normal(&format!("{p}{name}.weight"), vec![h, h]);
        }
        normal(&format!("{p}intermediate.dense.weight"), vec![f, h]);
        normal(&format!("{p}output.dense.weight"), vec![h, f]);
    }
    normal("discriminator_predictions.dense.weight", vec![h, h]);
    normal("discriminator_predictions.dense_prediction.weight", vec![1, h]);

    // nn.Embedding(padding_idx): HF zeroes the padding row.
    let pad = config.pad_token_id;
    if let Some((_, _, words)) = tensors.iter_mut().find(|(n, _, _)| n == "electra.embeddings.word_embeddings.weight") {
        words[pad * e..(pad + 1) * e].fill(0.0);
    }

    let constant = |name: String, n: usize, value: f32| (name, vec![n], vec![value; n]);
    let mut layer_norm = |prefix: String, n: usize| {
        tensors.push(constant(format!("{prefix}.weight"), n, 1.0));
        tensors.push(constant(format!("{prefix}.bias"), n, 0.0));
    };
    layer_norm("electra.embeddings.LayerNorm".into(), e);
    for l in 0..config.num_hidden_layers {
        layer_norm(format!("electra.encoder.layer.{l}.attention.output.LayerNorm"), h);
        layer_norm(format!("electra.encoder.layer.{l}.output.LayerNorm"), h);
    }
    let mut biases = vec![("discriminator_predictions.dense".to_string(), h)];
    biases.push(("discriminator_predictions.dense_prediction".to_string(), 1));
    if config.has_embeddings_project() {
        biases.push(("electra.embeddings_project".to_string(), h));
    }
    for l in 0..config.num_hidden_layers {
        let p = format!("electra.encoder.layer.{l}.");
        for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            biases.push((format!("{p}{name}"), h));
        }
        biases.push((format!("{p}intermediate.dense"), f));
        biases.push((format!("{p}output.dense"), h));
    }
    for (name, n) in biases {
        tensors.push(constant(format!("{name}.bias"), n, 0.0));
    }
    tensors
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = match args.preset.as_str() {
        "tiny" => ElectraConfig::tiny(),
        "small" => ElectraConfig::small(),
        other => anyhow::bail!("unknown preset `{other}`; expected `tiny` or `small`"),
    };
    let vocab = std::fs::read(&args.vocab).with_context(|| format!("reading {}", args.vocab.display()))?;
    let lines = vocab.split(|&b| b == b'\n').filter(|line| !line.is_empty()).count();
    anyhow::ensure!(
        lines == config.vocab_size,
        "{}: {lines} lines, but the {} preset has a vocab of {}",
        args.vocab.display(),
        args.preset,
        config.vocab_size
    );
    let tensors = init_discriminator(&config, args.init_std, &mut Rng(args.seed));
    save_hf_checkpoint(&args.out, &config, HeadKind::ReplacedTokenDetection, &tensors, &vocab)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let parameters: usize = tensors.iter().map(|(_, _, data)| data.len()).sum();
    println!("wrote {} ({} preset, {parameters} parameters, seed {})", args.out.display(), args.preset, args.seed);
    Ok(())
}
