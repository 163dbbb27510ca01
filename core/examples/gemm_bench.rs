//! Time of the int8 matrix products of one ELECTRA-Small forward pass (12 layers, `T` tokens), per
//! kernel twin, with distinct weights per layer (so they stream from memory as in a real run).
//!
//! `cargo run --release -p electra-core --features std --example gemm_bench -- [T] [ITERS] [COPIES]`
//! prints `twin ms_min ms_median GMAC/s` per twin.

use electra_core::quant::kernels::{available, Twin};
use std::time::Instant;

const H: usize = 256;
const F: usize = 1024;
const D: usize = 64;
const A: usize = 4;
const L: usize = 12;

struct Layer {
    q: Vec<i8>,
    k: Vec<i8>,
    v: Vec<i8>,
    o: Vec<i8>,
    i: Vec<i8>,
    o2: Vec<i8>,
}

fn random(n: usize, state: &mut u64) -> Vec<i8> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            ((*state % 255) as i32 - 127) as i8
        })
        .collect()
}

fn forward(twin: &Twin, t: usize, layers: &[Layer], x: &[i8], inter: &[i8], p: &[i16], c: &mut [i32]) -> usize {
    let (g8, g16) = (twin.gemm_i8_fn(), twin.gemm_i16_i8_fn());
    let mut macs = 0;
    for w in layers {
        for h in 0..A {
            for wm in [&w.k, &w.v, &w.q] {
                g8(t, D, H, x, H, &wm[h * D * H..], H, c, D);
                macs += t * D * H;
            }
            g8(t, t, D, &x[..t * D], D, &x[..t * D], D, c, t);
            g16(t, D, t, p, t, &x[..D * t], t, c, D);
            macs += 2 * t * t * D;
        }
        for h in 0..A {
            g8(t, H, D, &x[..t * D], D, &w.o[h * D..], H, c, H);
            macs += t * H * D;
        }
        g8(t, F, H, x, H, &w.i, H, c, F);
        g8(t, H, F, inter, F, &w.o2, F, c, H);
        macs += 2 * t * H * F;
    }
    macs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let t: usize = args.get(1).map_or(128, |s| s.parse().unwrap());
    let iters: usize = args.get(2).map_or(30, |s| s.parse().unwrap());
    let mut state = 0x1234_5678_9abc_def1u64;
    // COPIES > 1: that many models' worth of distinct weights, used in turn (beyond L3: cold weights).
    let copies: usize = args.get(3).map_or(1, |s| s.parse().unwrap());
    let layers: Vec<Layer> = (0..L * copies)
        .map(|_| Layer {
            q: random(H * H, &mut state),
            k: random(H * H, &mut state),
            v: random(H * H, &mut state),
            o: random(H * H, &mut state),
            i: random(F * H, &mut state),
            o2: random(H * F, &mut state),
        })
        .collect();
    let x = random(t * H.max(t), &mut state);
    let inter = random(t * F, &mut state);
    let p: Vec<i16> = random(t * t, &mut state).iter().map(|&v| v as i16 * 200).collect();
    let mut c = vec![0i32; t * F.max(t)];
    for twin in available().iter().filter(|t| !t.name().starts_with("arm") && t.name() != "scalar") {
        let mut times = Vec::new();
        let mut macs = 0;
        for it in 0..iters {
            let model = &layers[(it % copies) * L..(it % copies + 1) * L];
            let start = Instant::now();
            macs = forward(twin, t, model, &x, &inter, &p, &mut c);
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!("{} {:.3} {:.3} {:.1}", twin.name(), times[0], times[iters / 2], macs as f64 / times[0] / 1e6);
    }
}
