//! Latency of the int8 engine on one model file: batch 1, fixed random token ids.
//!
//! `cargo run --release -p electra-train --example int8_bench -- FILE SEQ_LEN ITERS THREADS [unpacked]`
//! (`unpacked`: every run packs the weights, as without `PackedBuffer`) prints one line: `seq_len threads median_ms min_ms cpu_ms` (after 10% warm-up runs; `cpu_ms` is
//! the process's CPU time per run, all threads: on a shared machine it shows the work done,
//! unlike the wall clock, which also counts waiting for a core).

use electra_core::{RunOptions, SequenceInput};
use electra_train::int8::{Arena, ModelFile, PackedBuffer, RayonParallel};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5 || (args.len() == 6 && args[5] == "unpacked"),
        "usage: int8_bench FILE SEQ_LEN ITERS THREADS [unpacked]"
    );
    let (seq_len, iters, threads): (usize, usize, usize) = (args[2].parse()?, args[3].parse()?, args[4].parse()?);
    let file = ModelFile::read(args[1].as_ref())?;
    let model = file.model()?;
    let vocab = model.config().vocab_size as u64;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let ids: Vec<u32> = (0..seq_len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (5 + state % (vocab - 5)) as u32
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let parallel = RayonParallel::new(threads);
    let mut arena = Arena::for_model(&model, seq_len, threads);
    eprintln!("arena: {} bytes ({threads} worker(s), {seq_len} tokens)", arena.bytes_mut().len());
    let buffer = if args.len() == 6 { None } else { Some(PackedBuffer::for_model(&model)?) };
    let packed = match &buffer {
        Some(buffer) => buffer.view(&model)?,
        None => None,
    };
    let mut times = Vec::with_capacity(iters);
    let mut cpu_start = 0.0;
    // One thread: the calling thread, no pool.
    let mut run_all = || -> anyhow::Result<()> {
        for i in 0..iters + iters / 10 {
            if i == iters / 10 {
                cpu_start = cpu_seconds();
            }
            let start = Instant::now();
            let input = SequenceInput::ids(&ids);
            let options = RunOptions::default().packed(packed.as_ref());
            let logits = if threads == 1 {
                model.run(&input, arena.bytes_mut(), &options)?
            } else {
                model.run(&input, arena.bytes_mut(), &options.parallel(&parallel))?
            };
            std::hint::black_box(logits.values);
            if i >= iters / 10 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        Ok(())
    };
    if threads == 1 {
        run_all()?;
    } else {
        pool.install(run_all)?;
    }
    let cpu_ms = (cpu_seconds() - cpu_start) * 1e3 / iters as f64;
    times.sort_by(f64::total_cmp);
    println!("{seq_len} {threads} {:.3} {:.3} {cpu_ms:.3}", times[times.len() / 2], times[0]);
    Ok(())
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
