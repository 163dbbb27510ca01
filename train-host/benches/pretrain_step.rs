//! ELECTRA-Small pre-training steps (generator + discriminator forward, backward, AdamW) at batch 8 × 128:
//! tokens per second, the products' GFLOP/s (`objective::flops`: what a fraction of the FMA peak of
//! `examples/fma_peak.rs` is taken of) and peak memory. `scripts/bench-pretrain.sh` runs this beside the same step in
//! PyTorch (`scripts/bench/pretrain_step_torch.py`) in one go.
//!
//! Run: `cargo bench -p electra-train --bench pretrain_step [-- STEPS]`

use electra_core::ElectraConfig;
use electra_train::objective::flops::pretraining_step_flops;
use electra_train::objective::{Batch, ElectraPretraining, ObjectiveOptions, TrainRng};
use electra_train::optim::{AdamW, AdamWConfig, LinearSchedule};
use std::time::Instant;

/// The `electra` binary's allocator (src/main.rs says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 8;
const SEQ_LEN: usize = 128;

/// Full-length sequences `[CLS] w… [SEP]` of random word ids (BERT vocab, ids ≥ 1000 are word pieces).
fn batch(rng: &mut TrainRng) -> Batch {
    let opts = ObjectiveOptions::default();
    let mut input_ids = Vec::with_capacity(BATCH * SEQ_LEN);
    for _ in 0..BATCH {
        input_ids.push(opts.cls_id);
        for _ in 1..SEQ_LEN - 1 {
            input_ids.push(1000 + rng.below(29_000) as u32);
        }
        input_ids.push(opts.sep_id);
    }
    Batch {
        batch_size: BATCH,
        seq_len: SEQ_LEN,
        input_ids,
        attention_mask: vec![1; BATCH * SEQ_LEN],
        token_type_ids: vec![0; BATCH * SEQ_LEN],
    }
}

/// Peak resident memory of this process (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time this process has used (user + system, all threads), in seconds: a load-independent measure
/// of work, printed beside wall time (the machine may be shared).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th of those.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

fn main() {
    electra_train::memory::keep_freed_memory();
    let steps: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    let mut rng = TrainRng::new(1);
    let (generator, discriminator) = (ElectraConfig::small_generator(), ElectraConfig::small());
    let mut model = ElectraPretraining::init(generator, discriminator, 1).unwrap();
    let config = AdamWConfig::electra();
    let schedule = LinearSchedule { warmup_steps: 10, total_steps: 1000, peak_lr: config.lr };
    let mut opt = AdamW::new(config, model.params());
    let opts = ObjectiveOptions::default();
    let threads = rayon::current_num_threads();
    let mut run_step = |step: usize, rng: &mut TrainRng| {
        let b = batch(rng);
        let t0 = Instant::now();
        let stats = model.step_gradients(&b, rng, &opts).unwrap();
        let t1 = Instant::now();
        let (params, grads) = model.params_mut_and_grads();
        opt.step(params, grads, schedule.lr(step as u64 + 10)).unwrap();
        let t2 = Instant::now();
        (stats, (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
    };
    run_step(0, &mut rng); // warm-up: first-touch page faults, thread pool start
    let mut total = 0.0;
    let mut flops = 0.0;
    let cpu0 = cpu_seconds();
    for step in 1..=steps {
        let (stats, grad_s, adam_s) = run_step(step, &mut rng);
        total += grad_s + adam_s;
        flops += pretraining_step_flops(&generator, &discriminator, BATCH, SEQ_LEN, stats.masked_tokens);
        eprintln!(
            "step {step}: {:.0} ms (forward+backward {:.0} ms, AdamW {:.0} ms), loss {:.3}",
            (grad_s + adam_s) * 1e3,
            grad_s * 1e3,
            adam_s * 1e3,
            stats.loss
        );
    }
    let cpu_per_step = (cpu_seconds() - cpu0) / steps as f64;
    let tokens_per_s = (steps * BATCH * SEQ_LEN) as f64 / total;
    let tokens = (steps * BATCH * SEQ_LEN) as f64;
    println!(
        "electra-train: {tokens_per_s:.0} tokens/s ({:.0} ms/step over {steps} steps, {threads} threads, {:.0} CPU-ms/step), peak RSS {:.0} MiB, products {:.1} GFLOP/s ({:.2} MFLOP a token)",
        total / steps as f64 * 1e3,
        cpu_per_step * 1e3,
        peak_rss_mib(),
        flops / total / 1e9,
        flops / tokens / 1e6
    );
}
