//! Steps 2-3: the generator's MLM loss and its Gumbel-max samples, the replacements the discriminator
//! judges.

use super::*;

/// Uniforms drawn per block of a row's Gumbel noise.
pub(super) const GUMBEL_BLOCK: usize = 512;

/// Gumbel-max over one row of softmax numerators `e = exp(logits − max)`, with noise from `stream`:
/// `argmax_v (logit_v + g_v)`, `g_v = −ln(−ln u_v)`, `u_v ~ U(0, 1)`, evaluated as `argmin_v (−ln u_v)/e_v`
/// (the same index: subtract `max`, negate, exponentiate).
fn gumbel_max_row(e: &[f32], stream: &mut TrainRng) -> u32 {
    let mut u = [0.0f32; GUMBEL_BLOCK];
    let mut best = (0usize, f32::INFINITY);
    for (b, block) in e.chunks(GUMBEL_BLOCK).enumerate() {
        let u = &mut u[..block.len()];
        stream.fill_uniform_open(u);
        let (i, key) = kernels::gumbel_argmin(block, u, best.1);
        if key < best.1 {
            best = (b * GUMBEL_BLOCK + i, key);
        }
    }
    best.0 as u32
}

/// Gumbel-max sampling at temperature 1: an exact draw from `softmax(logits)` per row. Row `r` draws its
/// noise from `rng.fork(r)`, so the result does not depend on how rows are spread over threads.
pub fn gumbel_max_sample(logits: ArrayView2<'_, f32>, rng: &TrainRng) -> Vec<u32> {
    logits
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(r, row)| {
            let mut e = row.to_vec();
            kernels::exp_shifted(&mut e);
            gumbel_max_row(&e, &mut rng.fork(r as u64))
        })
        .collect()
}

/// The generator's MLM loss (mean cross-entropy of `logits [M, V]` against `targets [M]`) and, when `rng` is
/// given, one Gumbel-max sample per row ([`gumbel_max_sample`]'s draws exactly), in one pass over the
/// logits. Overwrites `logits` with `∂loss/∂logits`.
///
/// `streams[r]` names row `r`'s noise stream (`rng.fork(streams[r])`); `None` numbers the rows 0, 1, 2, …
pub fn mlm_loss_and_samples(
    logits: &mut Array2<f32>,
    targets: &[i64],
    rng: Option<&TrainRng>,
    streams: Option<&[u64]>,
) -> (f32, Vec<u32>) {
    let inv = if targets.is_empty() { 0.0 } else { 1.0 / targets.len() as f32 };
    let vocab = logits.ncols().max(1);
    let rows: Vec<(f64, u32)> = with_row_major_mut(logits, |flat| {
        flat.par_chunks_mut(vocab)
            .zip(targets.par_iter())
            .enumerate()
            .map(|(r, (e, &target))| {
                let label = target as usize;
                let label_logit = e[label];
                let max = kernels::exp_shifted(e);
                let stream = streams.and_then(|ids| ids.get(r).copied()).unwrap_or(r as u64);
                let sample = rng.map_or(0, |rng| gumbel_max_row(e, &mut rng.fork(stream)));
                let loss = kernels::cross_entropy_from_exp(e, label, inv) + (max - label_logit) as f64;
                (loss, sample)
            })
            .collect()
    });
    let loss = rows.iter().map(|r| r.0).sum::<f64>() * inv as f64;
    let samples = if rng.is_some() { rows.iter().map(|r| r.1).collect() } else { Vec::new() };
    (loss as f32, samples)
}
