//! Writes an HF `ElectraForPreTraining` checkpoint with freshly initialized weights, the way HF's
//! `_init_weights` does it (normal(0, initializer_range) weights and embeddings, zero biases, LayerNorm 1 and 0, a
//! zero padding row), for a preset config. `electra export` turns it into a model file; the firmware tests
//! (`scripts/test.d/50-firmware-qemu.sh`, `55-firmware-classifier.sh`) and the firmware benchmarks use it so that
//! they need neither a trained model nor Python.
//!
//! With `--head seq-cls` or `--head tok-cls` it writes an `ElectraForSequenceClassification` or
//! `ElectraForTokenClassification` instead (HF-initialized head), with `--labels` as `id2label` in
//! `config.json`, as `electra finetune` writes its models: a stand-in classifier for the device path.
//!
//! ```sh
//! cargo run --release -p electra-train --example random_checkpoint -- \
//!     --preset small --seed 1 --vocab data/vocab.txt --out target/electra-small-random
//! cargo run --release -p electra-train --example random_checkpoint -- \
//!     --preset tiny --head tok-cls --labels O,B-NP,I-NP --vocab data/vocab.txt --out target/tiny-tagger
//! ```

use anyhow::Context;
use clap::Parser;
use electra_core::{ElectraConfig, HeadKind};
// SplitMix64 for the bits, Box-Muller for normal samples: fixed-seed, the pipeline's one copy of it.
use electra_pipeline::rng::SplitMix64 as Rng;
use electra_train::checkpoint::atomic::write_dir_atomically;
use electra_train::checkpoint::{hf_config_json, write_hf_files, CheckpointError, NamedTensor};
use std::path::{Path, PathBuf};

#[derive(Parser)]
struct Args {
    /// `tiny` (ElectraConfig::tiny), `small` (ELECTRA-Small, ElectraConfig::small), or the path of an HF ELECTRA
    /// `config.json` giving the dimensions (as `electra pretrain --model-size` takes one).
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
    /// The head: `rtd` (replaced-token detection, `ElectraForPreTraining`), `seq-cls`
    /// (`ElectraForSequenceClassification`) or `tok-cls` (`ElectraForTokenClassification`).
    #[arg(long, default_value = "rtd")]
    head: String,
    /// A classifier's label names in id order, comma-separated (`config.json`'s `id2label`).
    #[arg(long, value_delimiter = ',', default_value = "LABEL_0,LABEL_1")]
    labels: Vec<String>,
    /// A sequence classifier whose outputs are regression scores (`problem_type: "regression"`).
    #[arg(long)]
    regression: bool,
}

/// The tensors of the ELECTRA discriminator with `head` (`ElectraForPreTraining` or a classifier) under their HF
/// names, HF-initialized.
fn init_model(config: &ElectraConfig, head: HeadKind, std: f32, rng: &mut Rng) -> Vec<NamedTensor> {
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
    // The head's linear layers (HF names), each with a zero bias below.
    let head_linears: Vec<(&str, usize, usize)> = match head {
        HeadKind::SequenceClassification { num_labels } => {
            vec![("classifier.dense", h, h), ("classifier.out_proj", num_labels, h)]
        }
        HeadKind::TokenClassification { num_labels } => vec![("classifier", num_labels, h)],
        _ => vec![("discriminator_predictions.dense", h, h), ("discriminator_predictions.dense_prediction", 1, h)],
    };
    for &(name, n_out, n_in) in &head_linears {
        normal(&format!("{name}.weight"), vec![n_out, n_in]);
    }

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
    let mut biases: Vec<(String, usize)> = head_linears.iter().map(|&(name, n_out, _)| (name.into(), n_out)).collect();
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
        path if path.ends_with(".json") => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            electra_train::checkpoint::config_from_hf_json(Path::new(path), &text)?.0
        }
        other => anyhow::bail!("unknown preset `{other}`; expected `tiny`, `small` or a config.json path"),
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
    let num_labels = args.labels.len();
    let head = match args.head.as_str() {
        "rtd" => HeadKind::ReplacedTokenDetection,
        "seq-cls" => HeadKind::SequenceClassification { num_labels },
        "tok-cls" => HeadKind::TokenClassification { num_labels },
        other => anyhow::bail!("unknown head `{other}`; expected `rtd`, `seq-cls` or `tok-cls`"),
    };
    anyhow::ensure!(!args.regression || args.head == "seq-cls", "--regression needs --head seq-cls");
    let tensors = init_model(&config, head, args.init_std, &mut Rng(args.seed));
    let json = config_json(&config, head, &args.labels, args.regression)?;
    write_dir_atomically(&args.out, |tmp: &Path| -> Result<(), CheckpointError> {
        write_hf_files(tmp, &config, &json, &tensors, &vocab)
    })
    .with_context(|| format!("writing {}", args.out.display()))?;
    let parameters: usize = tensors.iter().map(|(_, _, data)| data.len()).sum();
    println!(
        "wrote {} ({} preset, {}, {parameters} parameters, seed {})",
        args.out.display(),
        args.preset,
        head.hf_architecture(),
        args.seed
    );
    Ok(())
}

/// HF's `config.json` for `head`; a classifier's with `labels` as `id2label`/`label2id` and its `problem_type`,
/// as `electra finetune` writes them.
fn config_json(
    config: &ElectraConfig,
    head: HeadKind,
    labels: &[String],
    regression: bool,
) -> anyhow::Result<serde_json::Value> {
    let mut json = hf_config_json(config, head);
    if head == HeadKind::ReplacedTokenDetection {
        return Ok(json);
    }
    anyhow::ensure!(!labels.is_empty(), "a classifier needs at least one label");
    anyhow::ensure!(!regression || labels.len() == 1, "--regression takes one label (the score's name)");
    let map = json.as_object_mut().context("hf_config_json gives an object")?;
    let id2label: serde_json::Map<String, serde_json::Value> =
        labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone().into())).collect();
    let label2id: serde_json::Map<String, serde_json::Value> =
        labels.iter().enumerate().map(|(i, l)| (l.clone(), i.into())).collect();
    map.insert("id2label".into(), id2label.into());
    map.insert("label2id".into(), label2id.into());
    if let HeadKind::SequenceClassification { .. } = head {
        let problem = if regression { "regression" } else { "single_label_classification" };
        map.insert("problem_type".into(), problem.into());
    }
    Ok(json)
}
