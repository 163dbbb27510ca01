//! `electra bench-infer`: wall-clock time of float inference on a checkpoint, per GEMM backend and
//! batch size, or (with `--gemm-shapes`) of the encoder's GEMM shapes alone. Prints one JSON object
//! per measurement so `scripts/bench/float_infer.sh` can put it beside PyTorch and ONNX Runtime.

use crate::checkpoint::HfCheckpoint;
use crate::infer::{FloatModel, GemmBackend, InputSeq};
use electra_core::float::{Gemm, MatMut, MatRef};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// HF checkpoint directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Batch sizes to time (repeat the flag).
    #[arg(long = "batch", default_values_t = [1, 8])]
    pub batches: Vec<usize>,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Timed repetitions per measurement (the median and minimum are reported).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// GEMM backends to time (repeat the flag).
    #[arg(long = "gemm", value_enum, default_values_t = GemmBackend::ALL)]
    pub gemms: Vec<GemmBackend>,
    /// Time the encoder's GEMM shapes on their own (single-threaded and on all threads) instead of the model.
    #[arg(long)]
    pub gemm_shapes: bool,
}

/// CPU time this process has used so far, all threads, in milliseconds (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; it cannot fail for this clock id.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 * 1e-6
}

/// Timings of `iters` runs after `warmup` untimed ones, in milliseconds: median and minimum wall
/// clock, and the median process CPU time (all threads).
struct Timing {
    median_ms: f64,
    min_ms: f64,
    cpu_ms: f64,
}

fn time_ms(warmup: usize, iters: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let mut wall = Vec::with_capacity(iters.max(1));
    let mut cpu = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let (start, start_cpu) = (Instant::now(), process_cpu_ms());
        f()?;
        wall.push(start.elapsed().as_secs_f64() * 1e3);
        cpu.push(process_cpu_ms() - start_cpu);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Ok(Timing { median_ms: wall[wall.len() / 2], min_ms: wall[0], cpu_ms: cpu[cpu.len() / 2] })
}

/// Deterministic ids in `[1000, V)` (ordinary WordPiece tokens in the BERT vocab); values do not affect speed.
fn bench_batch(batch: usize, seq_len: usize, vocab_size: usize) -> Vec<InputSeq> {
    let mut state = 0x9e37_79b9u32;
    (0..batch)
        .map(|_| {
            InputSeq::ids(
                (0..seq_len)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        let span = vocab_size.saturating_sub(1000).max(1) as u32;
                        (1000 + (state >> 8) % span).min(vocab_size as u32 - 1)
                    })
                    .collect(),
            )
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let checkpoint = HfCheckpoint::load(&args.model)?;
    let threads = rayon::current_num_threads();
    if args.gemm_shapes {
        return gemm_shapes(&args, &checkpoint, threads);
    }
    for &backend in &args.gemms {
        let model = FloatModel::from_checkpoint(&checkpoint)?.with_backend(backend);
        for &batch in &args.batches {
            let seqs = bench_batch(batch, args.seq_len, model.config().vocab_size);
            let t = time_ms(args.warmup, args.iters, || {
                model.logits(&seqs)?;
                Ok(())
            })?;
            let line = serde_json::json!({
                "impl": format!("electra-edge float ({backend})"),
                "batch": batch, "seq_len": args.seq_len, "threads": threads,
                "median_ms": t.median_ms, "min_ms": t.min_ms, "cpu_ms": t.cpu_ms,
            });
            println!("{line}");
        }
    }
    Ok(())
}

/// Every GEMM one encoder layer runs for one sequence of `T` tokens (plus the embedding projection),
/// timed per backend and thread count. Linear layers are timed with the weight in both layouts:
/// HF's `[out, in]` (read as `Wᵀ`, strided) and the host's transposed `[in, out]` (row-major).
fn gemm_shapes(args: &Args, checkpoint: &HfCheckpoint, threads: usize) -> anyhow::Result<()> {
    let c = checkpoint.config;
    let t = args.seq_len;
    let d = c.head_size();
    // (name, m, k, n, b stored as [n, k] and read transposed)
    let shapes = [
        ("embeddings_project, W [out,in]", t, c.embedding_size, c.hidden_size, true),
        ("embeddings_project, W [in,out]", t, c.embedding_size, c.hidden_size, false),
        ("q/k/v/attn-out, W [out,in]", t, c.hidden_size, c.hidden_size, true),
        ("q/k/v/attn-out, W [in,out]", t, c.hidden_size, c.hidden_size, false),
        ("ffn in, W [out,in]", t, c.hidden_size, c.intermediate_size, true),
        ("ffn in, W [in,out]", t, c.hidden_size, c.intermediate_size, false),
        ("ffn out, W [out,in]", t, c.intermediate_size, c.hidden_size, true),
        ("ffn out, W [in,out]", t, c.intermediate_size, c.hidden_size, false),
        ("scores q_h·k_hᵀ (per head)", t, d, t, true),
        ("context p·v_h (per head)", t, t, d, false),
    ];
    for (name, m, k, n, b_transposed) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut out = vec![0.0f32; m * n];
        let mut thread_counts = vec![1, threads];
        thread_counts.dedup();
        for &backend in &args.gemms {
            for &gemm_threads in &thread_counts {
                let gemm = backend.instance(gemm_threads);
                let b_view = if b_transposed { MatRef::row_major(&b, n, k).t() } else { MatRef::row_major(&b, k, n) };
                let reps = 20;
                let t = time_ms(args.warmup, args.iters, || {
                    for _ in 0..reps {
                        run_gemm(&*gemm, MatRef::row_major(&a, m, k), b_view, &mut out, m, n);
                    }
                    Ok(())
                })?;
                let flops = 2.0 * (m * k * n) as f64 * reps as f64;
                let line = serde_json::json!({
                    "gemm_shape": name, "m": m, "k": k, "n": n, "backend": backend.to_string(),
                    "threads": gemm_threads, "us_per_call": t.median_ms * 1e3 / reps as f64,
                    "gflops": flops / (t.median_ms * 1e-3) / 1e9,
                    "cpu_us_per_call": t.cpu_ms * 1e3 / reps as f64,
                    "gflops_per_cpu_second": flops / (t.cpu_ms * 1e-3) / 1e9,
                });
                println!("{line}");
            }
        }
    }
    Ok(())
}

fn run_gemm(gemm: &dyn Gemm, a: MatRef<'_>, b: MatRef<'_>, out: &mut [f32], m: usize, n: usize) {
    gemm.gemm(1.0, a, b, 0.0, MatMut::row_major(out, m, n));
}
