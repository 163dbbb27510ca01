//! Why the trainer keeps row-major copies of `Wᵀ` for its forward products (`ParamSet::refresh_transposes`):
//! `gemm` 0.19 multiplies `x·Wᵀ` faster when `Wᵀ` is handed over row-major than as the column-major view of
//! HF's `W [out, in]`. Times every encoder linear of one ELECTRA-Small micro-batch (512 rows) both ways, plus
//! the two backward products for scale, best of 15 × 4 runs on the calling thread.
//!
//! Run: `taskset -c 1 cargo run --release -p electra-train --example gemm_layouts`

use electra_train::model::gemm::{matmul, Threads};
use ndarray::Array2;
use std::time::Instant;

/// Rows of one micro-batch: 4 sequences of 128 tokens.
const ROWS: usize = 512;

fn filled(rows: usize, cols: usize, seed: f32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17) as f32 * seed).sin())
}

/// Best time of one call, in ms.
fn best_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..4 {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / 4.0);
    }
    best * 1e3
}

fn main() {
    // (in, out, linears of this shape in one pass of the generator + discriminator encoders)
    let shapes = [
        (256, 768, 12, "disc qkv"),
        (256, 256, 12, "disc attention out"),
        (256, 1024, 12, "disc ffn up"),
        (1024, 256, 12, "disc ffn down"),
        (128, 256, 1, "disc embeddings project"),
        (64, 192, 12, "gen qkv"),
        (64, 64, 12, "gen attention out"),
        (64, 256, 12, "gen ffn up"),
        (256, 64, 12, "gen ffn down"),
    ];
    println!(
        "{:<24} {:>6} {:>6} | GFLOP/s: {:>9} {:>9} | {:>9} {:>9}",
        "linear", "in", "out", "x·W.t()", "x·Wt", "dy·W", "dyᵀ·x"
    );
    let mut totals = [0.0; 4];
    for (k, n, count, what) in shapes {
        let x = filled(ROWS, k, 0.37);
        let w = filled(n, k, 0.11); // HF layout [out, in]
        let w_t = w.t().as_standard_layout().into_owned(); // [in, out], row-major
        let dy = filled(ROWS, n, 0.23);
        let mut y = Array2::<f32>::zeros((ROWS, n));
        let mut dx = Array2::<f32>::zeros((ROWS, k));
        let mut dw = Array2::<f32>::zeros((n, k));
        let times = [
            best_ms(|| matmul(x.view(), w.t(), y.view_mut(), false, Threads::One)),
            best_ms(|| matmul(x.view(), w_t.view(), y.view_mut(), false, Threads::One)),
            best_ms(|| matmul(dy.view(), w.view(), dx.view_mut(), false, Threads::One)),
            best_ms(|| matmul(dy.t(), x.view(), dw.view_mut(), true, Threads::One)),
        ];
        let gflops = |ms: f64| 2.0 * (ROWS * k * n) as f64 / ms / 1e6;
        println!(
            "{what:<24} {k:>6} {n:>6} |          {:>9.0} {:>9.0} | {:>9.0} {:>9.0}",
            gflops(times[0]),
            gflops(times[1]),
            gflops(times[2]),
            gflops(times[3])
        );
        for (total, ms) in totals.iter_mut().zip(times) {
            *total += ms * count as f64;
        }
    }
    println!(
        "one micro-batch's encoder linears, ms: forward x·W.t() {:.1}, x·Wt {:.1}; input gradients {:.1}; weight gradients {:.1}",
        totals[0], totals[1], totals[2], totals[3]
    );
}
