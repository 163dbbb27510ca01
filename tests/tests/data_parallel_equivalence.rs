//! Data-parallel exactness without MPI: two "ranks" in two threads, each with batch 4 and its share of the
//! step ([`StepShare`]), exchanging token counts through a barrier, end with the same mean gradient as one
//! process with batch 8 over the same examples. The MPI run of the same thing (several AdamW steps, real
//! `MPI_Allreduce`) is `scripts/test.d/70-mpi.sh`.

use electra_core::ElectraConfig;
use electra_pipeline::reader::Batch;
use electra_train::objective::{ElectraPretraining, ObjectiveOptions, StepShare};
use electra_train::rng::TrainRng;
use std::sync::{Arc, Barrier, Mutex};

/// Sums of the same products in another order (two half-batch GEMMs, then a mean, against one full one):
/// float32 rounding, a few ulps of the largest gradient entry.
const GRAD_TOLERANCE_OF_MAX: f32 = 1e-5;

const VOCAB: usize = 1000;
const SEQ: usize = 24;
const ROWS: usize = 8;

fn configs() -> (ElectraConfig, ElectraConfig) {
    let disc = ElectraConfig { vocab_size: VOCAB, max_position_embeddings: SEQ, ..ElectraConfig::tiny() };
    let gen = ElectraConfig { vocab_size: VOCAB, max_position_embeddings: SEQ, ..ElectraConfig::tiny_generator() };
    (gen, disc)
}

fn options() -> ObjectiveOptions {
    ObjectiveOptions { pad_id: 0, cls_id: 2, sep_id: 3, mask_id: 4, ..ObjectiveOptions::default() }
}

/// Rows of different lengths, so the ranks hold different numbers of tokens and masked positions.
fn global_batch() -> Batch {
    let mut rng = TrainRng::new(11);
    let mut batch = Batch::padding(ROWS, SEQ);
    for r in 0..ROWS {
        let len = 6 + (r * 7) % (SEQ - 6);
        let row = &mut batch.input_ids[r * SEQ..(r + 1) * SEQ];
        row[0] = 2;
        for id in &mut row[1..len - 1] {
            *id = 5 + rng.below(VOCAB - 5) as u32;
        }
        row[len - 1] = 3;
        batch.attention_mask[r * SEQ..r * SEQ + len].fill(1);
    }
    batch
}

fn rows(batch: &Batch, from: usize, count: usize) -> Batch {
    let span = from * SEQ..(from + count) * SEQ;
    Batch {
        batch_size: count,
        seq_len: SEQ,
        input_ids: batch.input_ids[span.clone()].to_vec(),
        attention_mask: batch.attention_mask[span.clone()].to_vec(),
        token_type_ids: batch.token_type_ids[span].to_vec(),
    }
}

#[test]
fn two_ranks_of_four_give_the_gradient_of_one_rank_of_eight() {
    let (gen, disc) = configs();
    let model = ElectraPretraining::init(gen, disc, 5).expect("tiny model");
    let batch = global_batch();
    let opts = options();

    let mut whole = model.clone();
    let full = whole.step_gradients(&batch, &mut TrainRng::new(99), &opts).expect("full step");

    let barrier = Arc::new(Barrier::new(2));
    let totals = Arc::new(Mutex::new([0.0f64; 2]));
    let halves: Vec<(Vec<f32>, f32)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|rank| {
                let (barrier, totals, batch, opts) = (barrier.clone(), totals.clone(), &batch, &opts);
                let mut model = model.clone();
                scope.spawn(move || {
                    let mut sum_counts = |counts: &mut [f64; 2]| -> Result<(), String> {
                        {
                            let mut t = totals.lock().map_err(|e| e.to_string())?;
                            t[0] += counts[0];
                            t[1] += counts[1];
                        }
                        barrier.wait();
                        *counts = *totals.lock().map_err(|e| e.to_string())?;
                        Ok(())
                    };
                    let mut share =
                        StepShare { first_row: (rank * 4) as u64, world_size: 2, sum_counts: Some(&mut sum_counts) };
                    let local = rows(batch, rank * 4, 4);
                    let stats = model
                        .step_gradients_shared(&local, &mut TrainRng::new(99), opts, &mut share)
                        .expect("half step");
                    (model.grads().data().to_vec(), stats.loss)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("rank thread")).collect()
    });

    let mean_loss = (halves[0].1 + halves[1].1) / 2.0;
    assert!((mean_loss - full.loss).abs() <= 1e-4 * full.loss.abs(), "loss {mean_loss} vs {}", full.loss);
    let full_grads = whole.grads().data();
    let max = full_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(max > 0.0);
    let worst = full_grads
        .iter()
        .zip(halves[0].0.iter().zip(&halves[1].0))
        .map(|(&g, (&a, &b))| (g - (a + b) / 2.0).abs())
        .fold(0.0f32, f32::max);
    println!("max |mean of 2×4 − 1×8| gradient difference: {worst:e} (largest gradient {max:e})");
    assert!(
        worst <= GRAD_TOLERANCE_OF_MAX * max,
        "gradients differ by {worst}, allowed {}",
        GRAD_TOLERANCE_OF_MAX * max
    );
}
