//! How much arithmetic one pre-training step is: the floating-point operations of its matrix products,
//! forward and backward, counting a multiply-add as 2. It is the numerator of "fraction of the FMA peak"
//! (`benches/pretrain_step.rs`, `examples/fma_peak.rs`, docs/BENCHMARKS.md) and counts the work ELECTRA's own
//! step does: the generator's vocabulary projection on the masked positions only (`gather_positions`), so a
//! program that projects every position (HF's `ElectraForMaskedLM`) is credited with the same count and not
//! with the wasted rows.
//!
//! Left out, as model-FLOP counts leave them out: elementwise work (softmax, GELU, LayerNorm, dropout, the
//! losses, AdamW), embedding lookups and the bias adds. They are a few % of the products' count and do not run
//! on the FMA units at their rate anyway, so the fraction of the peak is that of the products.
//!
//! Backward is twice forward: every linear `y = x·Wᵀ` has `dx = dy·W` and `dW = dyᵀ·x` of the forward's size,
//! and attention's two products (`Q·Kᵀ`, `P·V`) have four (`dP = dC·Vᵀ`, `dV = Pᵀ·dC`, `dQ = dS·K`,
//! `dK = dSᵀ·Q`). The first layer's input gradient is not skipped: the embeddings train.
//!
//! Dimensions: `T` tokens a sequence, `N = sequences · T` token rows, `M` masked rows, `E` embedding width,
//! `H` hidden width, `I` FFN width, `V` vocabulary.

use electra_core::ElectraConfig;

/// Forward products of one encoder (embeddings projection and layers, no head) on `sequences` rows of
/// `seq_len` tokens.
pub fn encoder_forward_flops(config: &ElectraConfig, sequences: usize, seq_len: usize) -> f64 {
    let (t, e, h, i) =
        (seq_len as f64, config.embedding_size as f64, config.hidden_size as f64, config.intermediate_size as f64);
    let n = sequences as f64 * t;
    // [N, E] · [E, H] when the embeddings are narrower than the encoder (ELECTRA-Small).
    let project = if config.embedding_size != config.hidden_size { 2.0 * n * e * h } else { 0.0 };
    let layer = 2.0 * n * h * 3.0 * h   // Q, K, V: [N, H] · [H, 3H]
        + 2.0 * 2.0 * n * t * h         // Q·Kᵀ and P·V: per head [T, H/A]·[H/A, T] and [T, T]·[T, H/A], A heads
        + 2.0 * n * h * h               // attention output: [N, H] · [H, H]
        + 2.0 * 2.0 * n * h * i; //        FFN: [N, H] · [H, I] and [N, I] · [I, H]
    project + config.num_hidden_layers as f64 * layer
}

/// Products of one whole pre-training step, forward and backward: generator encoder on every token, its MLM
/// head (dense `H_g → E`, then the tied `E → V` projection) on the `masked` rows, discriminator encoder and
/// its RTD head (dense `H → H`, then `H → 1`) on every token.
pub fn pretraining_step_flops(
    generator: &ElectraConfig,
    discriminator: &ElectraConfig,
    sequences: usize,
    seq_len: usize,
    masked: usize,
) -> f64 {
    let (n, m) = ((sequences * seq_len) as f64, masked as f64);
    let (e, v) = (generator.embedding_size as f64, generator.vocab_size as f64);
    let (hg, hd) = (generator.hidden_size as f64, discriminator.hidden_size as f64);
    let mlm_head = 2.0 * m * hg * e + 2.0 * m * e * v;
    let rtd_head = 2.0 * n * hd * hd + 2.0 * n * hd;
    let forward = encoder_forward_flops(generator, sequences, seq_len)
        + mlm_head
        + encoder_forward_flops(discriminator, sequences, seq_len)
        + rtd_head;
    3.0 * forward // forward + a backward twice its size
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::ElectraPretraining;

    /// The linear part of the count, read off the model's own weight matrices instead of the formula: every 2-D
    /// weight but the embedding tables is one product of `2 · rows · in · out` forward, on the masked rows for the
    /// MLM head and on every token otherwise. What is left is attention's `4·N·T·H` a layer and encoder.
    #[test]
    fn linear_products_match_the_models_weight_matrices() {
        let (generator, discriminator) = (ElectraConfig::small_generator(), ElectraConfig::small());
        let (sequences, seq_len, masked) = (3usize, 40usize, 17usize);
        let model = match ElectraPretraining::init(generator, discriminator, 1) {
            Ok(model) => model,
            Err(e) => panic!("init: {e}"),
        };
        let n = (sequences * seq_len) as f64;
        let mut linear = 0.0;
        for (name, shape, _) in model.params().iter() {
            if shape.len() != 2 || name.starts_with("electra.embeddings") {
                continue; // biases, LayerNorms, the embedding tables (lookups, and the tied output layer below)
            }
            let rows = if name.contains("generator_predictions") { masked as f64 } else { n };
            linear += 2.0 * rows * (shape[0] * shape[1]) as f64;
        }
        // The tied output layer (the word table, [V, E]) on the masked rows.
        linear += 2.0 * masked as f64 * (generator.vocab_size * generator.embedding_size) as f64;
        let attention =
            |c: &ElectraConfig| c.num_hidden_layers as f64 * 4.0 * n * seq_len as f64 * c.hidden_size as f64;
        let expected = 3.0 * (linear + attention(&generator) + attention(&discriminator));
        let counted = pretraining_step_flops(&generator, &discriminator, sequences, seq_len, masked);
        assert!((counted - expected).abs() <= 1e-9 * expected, "formula {counted} against the weights' {expected}");
    }

    /// ELECTRA-Small at 8 × 128 with 19 masked tokens a sequence (15% of the 126 non-special ones): ~70 MFLOP
    /// a token, 5 of them the generator's (the MLM head on the masked rows is most of those).
    #[test]
    fn electra_small_step_is_about_70_mflop_a_token() {
        let (generator, discriminator) = (ElectraConfig::small_generator(), ElectraConfig::small());
        let per_token = pretraining_step_flops(&generator, &discriminator, 8, 128, 8 * 19) / 1024.0;
        assert!((69e6..72e6).contains(&per_token), "{per_token}");
    }
}
