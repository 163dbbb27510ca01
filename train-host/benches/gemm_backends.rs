//! Which GEMM to build the trainer on: `matrixmultiply` (through ndarray's `general_mat_mul`) or `gemm` 0.19,
//! timed on the exact products of one ELECTRA-Small pre-training step (batch 8 × 128 = 1024 rows).
//!
//! Run: `cargo bench -p electra-train --bench gemm_backends`
//! Each shape is `C[m, n] (+)= A · B` with the operand layouts the trainer uses: `x · Wᵀ` (forward),
//! `dy · W` (input gradient), `dyᵀ · x` (weight gradient, accumulated).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use std::time::Instant;

#[derive(Clone, Copy)]
enum Layout {
    /// `x[m, k] · W[n, k]ᵀ`
    Forward,
    /// `dy[m, k] · W[k, n]`
    InputGrad,
    /// `dy[k, m]ᵀ · x[k, n]`, accumulated into C
    WeightGrad,
}

struct Shape {
    what: &'static str,
    layout: Layout,
    m: usize,
    k: usize,
    n: usize,
    /// How many times one pre-training step runs this product.
    per_step: usize,
}

fn operands(s: &Shape) -> (Array2<f32>, Array2<f32>) {
    let fill =
        |r: usize, c: usize, seed: f32| Array2::from_shape_fn((r, c), |(i, j)| ((i * 31 + j * 17) as f32 * seed).sin());
    match s.layout {
        Layout::Forward => (fill(s.m, s.k, 0.37), fill(s.n, s.k, 0.11)),
        Layout::InputGrad => (fill(s.m, s.k, 0.37), fill(s.k, s.n, 0.11)),
        Layout::WeightGrad => (fill(s.k, s.m, 0.37), fill(s.k, s.n, 0.11)),
    }
}

fn views<'a>(s: &Shape, a: &'a Array2<f32>, b: &'a Array2<f32>) -> (ArrayView2<'a, f32>, ArrayView2<'a, f32>) {
    match s.layout {
        Layout::Forward => (a.view(), b.t()),
        Layout::InputGrad => (a.view(), b.view()),
        Layout::WeightGrad => (a.t(), b.view()),
    }
}

fn with_matrixmultiply(a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: &mut ArrayViewMut2<f32>) {
    general_mat_mul(1.0, &a, &b, beta, c);
}

fn with_gemm(a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: &mut ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides().to_vec());
    // SAFETY: the three views are valid for their shapes and strides, and C does not alias A or B.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc[1],
            sc[0],
            beta != 0.0,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            beta,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

fn time(mut f: impl FnMut(), reps: usize) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let rows = 8 * 128;
    let masked = 154; // ≈ 15% of 1024 tokens reach the generator's vocab projection
    let mut shapes = Vec::new();
    // (what, in, out, per step): the discriminator's (H 256, F 1024) and generator's (H 64, F 256) linears.
    for (what, inp, out, count) in [
        ("disc qkv", 256, 768, 12),
        ("disc attn.out", 256, 256, 12),
        ("disc ffn.up", 256, 1024, 12),
        ("disc ffn.down", 1024, 256, 12),
        ("disc emb.project", 128, 256, 1),
        ("gen qkv", 64, 192, 12),
        ("gen attn.out", 64, 64, 12),
        ("gen ffn.up", 64, 256, 12),
        ("gen ffn.down", 256, 64, 12),
    ] {
        shapes.push(Shape { what, layout: Layout::Forward, m: rows, k: inp, n: out, per_step: count });
        shapes.push(Shape { what, layout: Layout::InputGrad, m: rows, k: out, n: inp, per_step: count });
        shapes.push(Shape { what, layout: Layout::WeightGrad, m: out, k: rows, n: inp, per_step: count });
    }
    let vocab = 30522;
    shapes.push(Shape { what: "gen lm_head", layout: Layout::Forward, m: masked, k: 128, n: vocab, per_step: 1 });
    shapes.push(Shape { what: "gen lm_head", layout: Layout::InputGrad, m: masked, k: vocab, n: 128, per_step: 1 });
    shapes.push(Shape { what: "gen lm_head", layout: Layout::WeightGrad, m: vocab, k: masked, n: 128, per_step: 1 });

    println!(
        "{:<18} {:<11} {:>6} {:>6} {:>6} | {:>14} {:>14}",
        "product", "layout", "m", "k", "n", "matrixmultiply", "gemm 0.19"
    );
    let (mut total_mm, mut total_gemm) = (0.0, 0.0);
    for s in &shapes {
        let (a, b) = operands(s);
        let (av, bv) = views(s, &a, &b);
        let beta = if matches!(s.layout, Layout::WeightGrad) { 1.0 } else { 0.0 };
        let mut c1 = Array2::<f32>::zeros((s.m, s.n));
        let mut c2 = Array2::<f32>::zeros((s.m, s.n));
        let flops = 2.0 * (s.m * s.k * s.n) as f64;
        let reps = ((2e9 / flops) as usize).clamp(3, 50);
        let t_mm = time(|| with_matrixmultiply(av, bv, beta, &mut c1.view_mut()), reps);
        let t_gemm = time(|| with_gemm(av, bv, beta, &mut c2.view_mut()), reps);
        // Same product, same inputs: the two must agree (they accumulated the same number of times).
        let scale = c1.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
        let diff = c1.iter().zip(c2.iter()).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-3 * scale, "{}: backends disagree by {diff}", s.what);
        total_mm += t_mm * s.per_step as f64;
        total_gemm += t_gemm * s.per_step as f64;
        let layout = match s.layout {
            Layout::Forward => "x·Wᵀ",
            Layout::InputGrad => "dy·W",
            Layout::WeightGrad => "dyᵀ·x (+=)",
        };
        println!(
            "{:<18} {:<11} {:>6} {:>6} {:>6} | {:>9.1} GF/s {:>9.1} GF/s",
            s.what,
            layout,
            s.m,
            s.k,
            s.n,
            flops / t_mm / 1e9,
            flops / t_gemm / 1e9
        );
    }
    println!("one step's linear products: matrixmultiply {:.1} ms, gemm {:.1} ms", total_mm * 1e3, total_gemm * 1e3);
}
