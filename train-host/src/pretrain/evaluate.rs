//! Replaced-token detection on held-out shards, the way training sees it.
//!
//! Each batch is masked exactly as in training (15% of the non-special tokens, 85% of them `[MASK]`), the
//! generator's replacements are sampled with Gumbel-max from its softmax, and the discriminator scores every real
//! token of the corrupted sequence. Masking and sampling draw from `--seed`, so two models evaluated with the same
//! seed see the same masked positions (their generators' samples differ). Forward passes only.

use super::backend::TrainRng;
use super::backend::{mask_tokens, mlm_loss_and_samples, ElectraPretraining, ObjectiveOptions, ShardReader, Tokens};
use super::rtd_metrics::{RtdReport, RtdScores};
use super::state::{DISCRIMINATOR_DIR, GENERATOR_DIR};
use super::PretrainError;
use crate::checkpoint::HfCheckpoint;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub batch_size: usize,
    /// Seeds the data order, the masking and the generator's samples.
    pub seed: u64,
    /// Stop after this many batches (`None`: one pass over all the data).
    pub max_batches: Option<u64>,
    pub objective: ObjectiveOptions,
}

/// Everything measured, for the table and `--json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// Sequences evaluated.
    pub sequences: u64,
    /// Positions masked for the generator.
    pub masked_tokens: u64,
    /// The generator's MLM loss (mean cross-entropy over masked positions) and accuracy (argmax = original).
    pub generator_mlm_loss: Option<f64>,
    pub generator_mlm_accuracy: Option<f64>,
    /// The discriminator's RTD loss (mean BCE over real tokens).
    pub discriminator_rtd_loss: Option<f64>,
    /// RTD accuracy, precision, recall, AUC.
    pub rtd: RtdReport,
}

/// The generator and discriminator directories that belong to `dir`: `dir/{discriminator,generator}` (a run's
/// checkpoint directory), the same under `dir/checkpoint-latest` (a run's output directory), or `dir` itself as the
/// discriminator with `dir/../generator` beside it.
pub fn model_dirs(dir: &Path) -> Result<(PathBuf, PathBuf), PretrainError> {
    for checkpoint in [dir.to_path_buf(), super::state::checkpoint_dir(dir)] {
        if checkpoint.join(DISCRIMINATOR_DIR).join("config.json").exists() {
            return Ok((checkpoint.join(DISCRIMINATOR_DIR), checkpoint.join(GENERATOR_DIR)));
        }
    }
    if dir.join("config.json").exists() {
        if let Some(parent) = dir.parent() {
            if parent.join(GENERATOR_DIR).join("config.json").exists() {
                return Ok((dir.to_path_buf(), parent.join(GENERATOR_DIR)));
            }
        }
    }
    Err(PretrainError::Invalid {
        message: format!(
            "{}: evaluation needs a discriminator and the generator that makes its replacements: give a checkpoint \
             directory holding `{DISCRIMINATOR_DIR}/` and `{GENERATOR_DIR}/` (such as OUT/checkpoint-latest), or a \
             discriminator directory with `../{GENERATOR_DIR}/` beside it",
            dir.display()
        ),
    })
}

/// Loads the generator + discriminator pair that [`model_dirs`] finds for `dir`.
pub fn load_pair(dir: &Path) -> Result<(ElectraPretraining, PathBuf), PretrainError> {
    let (disc_dir, gen_dir) = model_dirs(dir)?;
    let disc = HfCheckpoint::load(&disc_dir)?;
    let gen = HfCheckpoint::load(&gen_dir)?;
    let model = ElectraPretraining::from_tensors(gen.config, disc.config, &gen, &disc)
        .map_err(|e| PretrainError::Invalid { message: format!("{}: {e}", dir.display()) })?;
    Ok((model, disc_dir))
}

/// Mean cross-entropy and argmax accuracy of `logits` (`[M, V]` row-major) against `targets`, in float64.
fn mlm_loss_and_hits(logits: &[f32], vocab: usize, targets: &[u32]) -> (f64, u64) {
    let mut loss = 0.0f64;
    let mut hits = 0u64;
    for (row, &target) in logits.chunks_exact(vocab).zip(targets) {
        let (mut best, mut max) = (0usize, f32::NEG_INFINITY);
        for (v, &l) in row.iter().enumerate() {
            if l > max {
                (best, max) = (v, l);
            }
        }
        let sum: f64 = row.iter().map(|&l| ((l - max) as f64).exp()).sum();
        loss += sum.ln() - (row[target as usize] - max) as f64;
        hits += u64::from(best == target as usize);
    }
    (loss, hits)
}

/// `log(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Evaluates `model` on rank 0's share of epoch 0 of `reader` (all of it: a world of one).
pub fn evaluate(
    model: &ElectraPretraining,
    reader: &ShardReader,
    opts: &EvalOptions,
) -> Result<EvalReport, PretrainError> {
    let mut rng = TrainRng::new(opts.seed);
    let mut scores = RtdScores::new();
    let (mut sequences, mut masked) = (0u64, 0u64);
    let (mut mlm_loss_sum, mut mlm_hits, mut bce_sum) = (0.0f64, 0u64, 0.0f64);
    let params = model.params();
    let vocab = model.gen_config.vocab_size;
    for (index, batch) in reader.epoch_batches(0, opts.batch_size, 0, 1, opts.seed).enumerate() {
        if opts.max_batches.is_some_and(|m| index as u64 >= m) {
            break;
        }
        let batch = batch?;
        let tokens = Tokens::from(&batch);
        tokens.validate(&model.disc_config).map_err(|e| PretrainError::Invalid { message: e.to_string() })?;
        // The same masking as `ElectraPretraining::step_gradients`, and a Gumbel-max draw per masked position
        // from one seeded stream, so an evaluation is reproducible for a given seed.
        let masking = mask_tokens(&tokens, &opts.objective, &mut rng);
        let sample_rng = TrainRng::new(rng.next_u64());
        let gen_tokens = Tokens { input_ids: &masking.input_ids, ..tokens };
        let (gen_hidden, _) = model.generator.forward(params, &gen_tokens);
        let (mut gen_logits, _) = model.generator_head.forward(params, gen_hidden.view(), &masking.positions); // [M, V]
        let targets: Vec<u32> = masking.positions.iter().map(|&i| batch.input_ids[i]).collect();
        let flat: Vec<f32> = gen_logits.iter().copied().collect(); // row-major whatever the layout
        let (loss, hits) = mlm_loss_and_hits(&flat, vocab, &targets);
        mlm_loss_sum += loss;
        mlm_hits += hits;
        // Samples drawn as training draws them: the noise of masked position `i` from stream `i`.
        let targets_i64: Vec<i64> = targets.iter().map(|&t| i64::from(t)).collect();
        let streams: Vec<u64> = masking.positions.iter().map(|&i| i as u64).collect();
        let (_, samples) = mlm_loss_and_samples(&mut gen_logits, &targets_i64, Some(&sample_rng), Some(&streams));

        let mut disc_ids = batch.input_ids.clone();
        let mut replaced = vec![false; disc_ids.len()];
        for (&i, &s) in masking.positions.iter().zip(&samples) {
            disc_ids[i] = s;
            replaced[i] = s != batch.input_ids[i];
        }
        let disc_tokens = Tokens { input_ids: &disc_ids, ..tokens };
        let (disc_hidden, _) = model.discriminator.forward(params, &disc_tokens);
        let (logits, _) = model.discriminator_head.forward(params, disc_hidden); // [B·T]
        for (i, &logit) in logits.iter().enumerate() {
            if batch.attention_mask[i] != 0 {
                scores.push(logit, replaced[i]);
                let x = logit as f64;
                bce_sum += if replaced[i] { softplus(-x) } else { softplus(x) };
            }
        }
        sequences += batch.batch_size as u64;
        masked += masking.positions.len() as u64;
    }
    let rtd = scores.report();
    let per = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
    Ok(EvalReport {
        sequences,
        masked_tokens: masked,
        generator_mlm_loss: per(mlm_loss_sum, masked),
        generator_mlm_accuracy: per(mlm_hits as f64, masked),
        discriminator_rtd_loss: per(bce_sum, rtd.tokens),
        rtd,
    })
}

/// Formats `Option<f64>` for tables: four decimals, or `n/a` where the ratio is undefined.
pub fn fmt_opt(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}

/// The rows of the evaluation table: (metric, value for each report).
pub fn table_rows(reports: &[&EvalReport]) -> Vec<(&'static str, Vec<String>)> {
    let row = |name: &'static str, f: &dyn Fn(&EvalReport) -> String| (name, reports.iter().map(|r| f(r)).collect());
    vec![
        row("sequences", &|r| r.sequences.to_string()),
        row("tokens scored", &|r| r.rtd.tokens.to_string()),
        row("replaced fraction", &|r| fmt_opt(r.rtd.replaced_fraction)),
        row("RTD accuracy", &|r| fmt_opt(r.rtd.accuracy)),
        row("all-original baseline", &|r| fmt_opt(r.rtd.all_original_accuracy)),
        row("precision (replaced)", &|r| fmt_opt(r.rtd.precision)),
        row("recall (replaced)", &|r| fmt_opt(r.rtd.recall)),
        row("ROC AUC", &|r| fmt_opt(r.rtd.auc)),
        row("RTD loss", &|r| fmt_opt(r.discriminator_rtd_loss)),
        row("generator MLM loss", &|r| fmt_opt(r.generator_mlm_loss)),
        row("generator MLM accuracy", &|r| fmt_opt(r.generator_mlm_accuracy)),
    ]
}

/// A plain-text table with one column per report.
pub fn format_table(headers: &[&str], reports: &[&EvalReport]) -> String {
    let rows = table_rows(reports);
    let first = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max("metric".len());
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(c, h)| rows.iter().map(|(_, v)| v.get(c).map_or(0, String::len)).max().unwrap_or(0).max(h.len()))
        .collect();
    let mut out = format!("{:<first$}", "metric");
    for (h, w) in headers.iter().zip(&widths) {
        out.push_str(&format!("  {h:>w$}"));
    }
    out.push('\n');
    out.push_str(&"-".repeat(first + widths.iter().map(|w| w + 2).sum::<usize>()));
    out.push('\n');
    for (name, values) in rows {
        out.push_str(&format!("{name:<first$}"));
        for (v, w) in values.iter().zip(&widths) {
            out.push_str(&format!("  {v:>w$}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlm_loss_is_the_cross_entropy() {
        // Two rows over a vocab of 3: uniform logits (loss ln 3, argmax 0), and a confident right answer.
        let logits = [0.0, 0.0, 0.0, -5.0, 10.0, -5.0];
        let (loss, hits) = mlm_loss_and_hits(&logits, 3, &[2, 1]);
        let confident = (1.0 + 2.0 * (-15.0f64).exp()).ln();
        assert!((loss - (3.0f64.ln() + confident)).abs() < 1e-12);
        assert_eq!(hits, 1);
    }

    #[test]
    fn finds_the_generator_beside_the_discriminator() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let ckpt = root.path().join("checkpoint-latest");
        for sub in [DISCRIMINATOR_DIR, GENERATOR_DIR] {
            std::fs::create_dir_all(ckpt.join(sub))?;
            std::fs::write(ckpt.join(sub).join("config.json"), "{}")?;
        }
        let expected = (ckpt.join(DISCRIMINATOR_DIR), ckpt.join(GENERATOR_DIR));
        assert_eq!(model_dirs(root.path())?, expected);
        assert_eq!(model_dirs(&ckpt)?, expected);
        assert_eq!(model_dirs(&ckpt.join(DISCRIMINATOR_DIR))?, expected);
        std::fs::remove_dir_all(ckpt.join(GENERATOR_DIR))?;
        let err = model_dirs(&ckpt.join(DISCRIMINATOR_DIR)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("needs a discriminator and the generator"), "{err}");
        Ok(())
    }

    #[test]
    fn softplus_is_stable() {
        assert!((softplus(0.0) - 2.0f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
    }
}
