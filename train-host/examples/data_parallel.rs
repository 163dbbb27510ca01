//! Data-parallel training under MPI, end to end: `mpirun -np W data_parallel train ...` runs `--steps` AdamW
//! steps of a model on a fixed stream of global batches, rank `r` taking rows `[r·B/W, (r+1)·B/W)` of each,
//! and rank 0 writes the final parameters. `data_parallel compare A B` checks two such files agree, so
//! 2 ranks × 4 can be compared with 1 rank × 8 (scripts/test.d/70-mpi.sh). Steps train with ELECTRA's dropout
//! (0.1; `--dropout P`, 0 turns it off): each sequence's masks are keyed by its global row, so they too are the
//! same whatever the world size. `--model small` times ELECTRA-Small steps and their gradient allreduce for
//! docs/BENCHMARKS.md: overlapped with the backward pass by default, one blocking allreduce after it with
//! `ELECTRA_GRAD_OVERLAP=0` (see `electra_train::distributed`).
//!
//! Built only with `--features mpi`.

use electra_core::ElectraConfig;
use electra_pipeline::reader::Batch;
use electra_train::distributed::World;
use electra_train::model::dropout::DropoutRates;
use electra_train::objective::{ElectraPretraining, ObjectiveOptions, StepShare};
use electra_train::optim::{AdamW, AdamWConfig};
use electra_train::rng::TrainRng;
use std::error::Error;
use std::time::Instant;

/// mimalloc, told to keep freed memory (`electra_train::memory`): glibc's malloc and mimalloc's defaults hand
/// each training step's activation buffers back to the OS and fault them in again next step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parameters of 2×4 and 1×8 runs differ only by float32 summation order in the gradients (two half-batch
/// GEMMs and an allreduce against one GEMM); AdamW divides each update by √v, so after a few steps of lr 5e-4 the
/// parameters agree to well under 1e-5 of their size. A wrong shard, mask or normalisation moves them by ~lr.
const PARAM_TOLERANCE: f32 = 2e-5;

struct Options {
    model: String,
    global_batch: usize,
    seq_len: usize,
    steps: usize,
    dropout: f32,
    out: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        model: "tiny".into(),
        global_batch: 8,
        seq_len: 32,
        steps: 4,
        dropout: DropoutRates::ELECTRA.hidden,
        out: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => o.model = value()?,
            "--global-batch" => o.global_batch = value()?.parse().map_err(|e| format!("--global-batch: {e}"))?,
            "--seq-len" => o.seq_len = value()?.parse().map_err(|e| format!("--seq-len: {e}"))?,
            "--steps" => o.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--dropout" => o.dropout = value()?.parse().map_err(|e| format!("--dropout: {e}"))?,
            "--out" => o.out = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn configs(model: &str, seq_len: usize) -> Result<(ElectraConfig, ElectraConfig, ObjectiveOptions), String> {
    match model {
        // A small vocab keeps the MLM head cheap; special ids as in the HF tiny fixtures.
        "tiny" => Ok((
            ElectraConfig { vocab_size: 1000, max_position_embeddings: seq_len, ..ElectraConfig::tiny_generator() },
            ElectraConfig { vocab_size: 1000, max_position_embeddings: seq_len, ..ElectraConfig::tiny() },
            ObjectiveOptions { pad_id: 0, cls_id: 2, sep_id: 3, mask_id: 4, ..ObjectiveOptions::default() },
        )),
        "small" => Ok((ElectraConfig::small_generator(), ElectraConfig::small(), ObjectiveOptions::default())),
        other => Err(format!("--model must be tiny or small, not {other}")),
    }
}

/// Global batch `step`: rows of varied lengths, the same for every world size.
fn global_batch(step: usize, rows: usize, seq: usize, vocab: usize, opts: &ObjectiveOptions) -> Batch {
    let mut rng = TrainRng::new(1_000 + step as u64);
    let mut batch = Batch {
        batch_size: rows,
        seq_len: seq,
        input_ids: vec![opts.pad_id; rows * seq],
        attention_mask: vec![0; rows * seq],
        token_type_ids: vec![0; rows * seq],
    };
    for r in 0..rows {
        let len = (seq / 2 + rng.below(seq / 2 + 1)).clamp(3, seq);
        let row = &mut batch.input_ids[r * seq..(r + 1) * seq];
        row[0] = opts.cls_id;
        for id in &mut row[1..len - 1] {
            *id = 5 + rng.below(vocab - 5) as u32;
        }
        row[len - 1] = opts.sep_id;
        batch.attention_mask[r * seq..r * seq + len].fill(1);
    }
    batch
}

fn slice_rows(batch: &Batch, from: usize, count: usize) -> Batch {
    let span = from * batch.seq_len..(from + count) * batch.seq_len;
    Batch {
        batch_size: count,
        seq_len: batch.seq_len,
        input_ids: batch.input_ids[span.clone()].to_vec(),
        attention_mask: batch.attention_mask[span.clone()].to_vec(),
        token_type_ids: batch.token_type_ids[span].to_vec(),
    }
}

fn train(o: &Options) -> Result<(), Box<dyn Error>> {
    let mut world = World::from_environment()?;
    let (rank, ranks) = (world.rank(), world.world_size());
    if !o.global_batch.is_multiple_of(ranks) {
        return Err(format!("global batch {} is not divisible by {ranks} ranks", o.global_batch).into());
    }
    let per_rank = o.global_batch / ranks;
    let (gen, disc, opts) = configs(&o.model, o.seq_len)?;
    let opts = ObjectiveOptions { dropout: DropoutRates::uniform(o.dropout), ..opts };
    let mut model = ElectraPretraining::init(gen, disc, 42)?;
    let mut optimizer = AdamW::new(AdamWConfig::electra(), model.params());
    let mut rng = TrainRng::new(7);
    let (mut compute_s, mut comm_s, mut busy_s, mut wall_s) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut tokens = 0.0f64;
    for step in 0..o.steps {
        let global = global_batch(step, o.global_batch, o.seq_len, disc.vocab_size, &opts);
        let local = slice_rows(&global, rank * per_rank, per_rank);
        let started = Instant::now();
        world.take_comm_time();
        world.take_comm_busy();
        // Overlapped (the default under mpirun): buckets posted from inside the backward pass, waited for below.
        let mut poster = world.begin_gradient_mean(model.grads().data().len())?;
        let stats = {
            let mut sum_counts = |counts: &mut [f64; 2]| world.allreduce_sum_f64(counts).map_err(|e| e.to_string());
            let mut share =
                StepShare { first_row: (rank * per_rank) as u64, world_size: ranks, sum_counts: Some(&mut sum_counts) };
            match poster.as_mut() {
                Some(poster) => {
                    let mut post =
                        |offset: usize, values: &[f32]| poster.post(offset, values).map_err(|e| e.to_string());
                    model.step_gradients_overlapped(&local, &mut rng, &opts, &mut share, &mut post)?
                }
                None => model.step_gradients_shared(&local, &mut rng, &opts, &mut share)?,
            }
        };
        let mut grads = model.grads().clone();
        let computed = started.elapsed().as_secs_f64();
        match poster {
            Some(poster) => world.finish_gradient_mean(poster, grads.data_mut())?,
            None => world.allreduce_mean(grads.data_mut())?,
        }
        // `comm`: the allreduce time the step waited for; `busy`: all of it, hidden behind the backward or not.
        let comm = world.take_comm_time().as_secs_f64();
        let busy = world.take_comm_busy().as_secs_f64().max(comm);
        let (params, _) = model.params_mut_and_grads();
        optimizer.step(params, &grads, AdamWConfig::electra().lr)?;
        let mut step_tokens = [stats.tokens as f64, stats.loss as f64];
        world.allreduce_sum_f64(&mut step_tokens)?;
        let wall = started.elapsed().as_secs_f64();
        // Skip the first step in the timings: it pays for first-touch page faults and thread start-up.
        if step > 0 || o.steps == 1 {
            compute_s += computed;
            comm_s += comm;
            busy_s += busy;
            wall_s += wall;
            tokens += step_tokens[0];
        }
        if world.is_root() {
            println!(
                "step {step}: loss {:.5} ({} ranks × batch {per_rank}), {:.3} s compute, {:.4} s allreduce wait ({:.4} s in flight) of {} floats, {:.3} s step",
                step_tokens[1] / ranks as f64,
                ranks,
                computed,
                comm,
                busy,
                grads.data().len(),
                wall
            );
        }
    }
    if world.is_root() {
        let timed_steps = o.steps.saturating_sub(1).max(1) as f64;
        // tokens/s over whole steps (forward, backward, allreduce wait, AdamW, loss sums).
        println!(
            "summary: {ranks} rank(s), {:.0} tokens/s, {:.1} ms allreduce wait per step, {:.1} ms allreduce in flight per step, {:.0} ms compute per step ({} MB of gradients)",
            tokens / wall_s,
            1e3 * comm_s / timed_steps,
            1e3 * busy_s / timed_steps,
            1e3 * compute_s / timed_steps,
            model.grads().data().len() * 4 / 1_000_000
        );
        if let Some(out) = &o.out {
            let bytes: Vec<u8> = model.params().data().iter().flat_map(|v| v.to_le_bytes()).collect();
            // The project's one atomic file writer: a reader never sees half the parameters.
            electra_pipeline::atomic_file::write_bytes_atomically(std::path::Path::new(out), &bytes)?;
        }
    }
    world.barrier();
    Ok(())
}

fn read_f32s(path: &str) -> Result<Vec<f32>, Box<dyn Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() % 4 != 0 {
        return Err(format!("{path}: {} bytes is not a whole number of float32", bytes.len()).into());
    }
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn compare(a: &str, b: &str) -> Result<(), Box<dyn Error>> {
    let (x, y) = (read_f32s(a)?, read_f32s(b)?);
    if x.len() != y.len() {
        return Err(format!("{a} has {} parameters, {b} has {}", x.len(), y.len()).into());
    }
    let worst = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    let moved = x.iter().zip(&y).filter(|(p, q)| p != q).count();
    println!(
        "max |Δparam| = {worst:e} over {} parameters ({moved} not bit-identical); tolerance {PARAM_TOLERANCE:e}",
        x.len()
    );
    if worst.is_nan() || worst > PARAM_TOLERANCE {
        return Err(format!("parameters differ by {worst}, more than {PARAM_TOLERANCE}").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    electra_train::memory::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("train") => train(&parse(&args[1..])?),
        Some("compare") if args.len() == 3 => compare(&args[1], &args[2]),
        _ => Err("usage: data_parallel train [--model tiny|small] [--global-batch N] [--seq-len T] [--steps S] [--dropout P] [--out FILE] | compare A B".into()),
    }
}
