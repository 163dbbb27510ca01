//! Step 1 of the objective: which tokens the generator sees masked (ELECTRA's 15%, 85% of them `[MASK]`).

use super::*;

/// The masking of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Masking {
    /// The generator's input: `[MASK]` at 85% of the masked positions.
    pub input_ids: Vec<u32>,
    /// Flat indices `b·T + t` of the masked positions, ascending.
    pub positions: Vec<usize>,
}

/// Chooses the positions to mask in every sequence and builds the generator's input.
pub fn mask_tokens(tokens: &Tokens<'_>, opts: &ObjectiveOptions, rng: &mut TrainRng) -> Masking {
    mask_tokens_from_row(tokens, opts, rng, 0)
}

/// [`mask_tokens`] for a batch whose first row is row `first_row` of the global (all-rank) batch.
///
/// One draw from `rng` seeds the step; row `b` then draws from its own stream, forked by its global index
/// `first_row + b`, so the masks of an example do not depend on how the global batch is split over ranks.
pub fn mask_tokens_from_row(
    tokens: &Tokens<'_>,
    opts: &ObjectiveOptions,
    rng: &mut TrainRng,
    first_row: u64,
) -> Masking {
    let step_rng = TrainRng::new(rng.next_u64());
    let t = tokens.seq_len;
    let max_per_sequence = (opts.mask_prob as f64 * t as f64).round() as usize;
    let mut input_ids = tokens.input_ids.to_vec();
    let mut positions = Vec::new();
    for b in 0..tokens.batch_size {
        let mut rng = step_rng.fork(first_row + b as u64);
        let row = b * t..(b + 1) * t;
        let mut candidates: Vec<usize> =
            row.filter(|&i| tokens.attention_mask[i] != 0 && !opts.is_special(tokens.input_ids[i])).collect();
        if candidates.is_empty() {
            continue;
        }
        // ELECTRA masks at least one token of a sequence that has any.
        let wanted = ((opts.mask_prob as f64 * candidates.len() as f64).round() as usize).max(1);
        let k = wanted.min(candidates.len()).min(max_per_sequence);
        // Partial Fisher–Yates: the first k candidates become a uniform random k-subset.
        for i in 0..k {
            let j = i + rng.below(candidates.len() - i);
            candidates.swap(i, j);
        }
        let chosen = &mut candidates[..k];
        chosen.sort_unstable();
        for &i in chosen.iter() {
            if rng.uniform_f64() < opts.mask_token_prob as f64 {
                input_ids[i] = opts.mask_id;
            }
            positions.push(i);
        }
    }
    Masking { input_ids, positions }
}
