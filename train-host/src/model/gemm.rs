//! The one matrix product every layer uses: `C = A·B` or `C += A·B` on float32 views of any strides.
//!
//! Backend: the `gemm` 0.19 crate (runtime-dispatched AVX2/AVX-512 kernels, threads on rayon's pool),
//! chosen over `matrixmultiply` by `benches/gemm_backends.rs` on ELECTRA-Small's products (numbers in
//! `docs/BENCHMARKS.md`). Transposes are free: pass `w.t()`.

use ndarray::{ArrayView2, ArrayViewMut2};

/// Products smaller than this many multiply-adds run on the calling thread: waking the pool costs more
/// than it saves (~0.1 ms of work at 2 GFLOP/s per core).
const PARALLEL_MIN_MACS: usize = 1 << 17;

/// Whether one product may use every core, or must stay on the calling thread (it already runs inside a
/// parallel loop, e.g. one attention head per task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    All,
    One,
}

/// `C = A·B` (`accumulate == false`) or `C += A·B`. Shapes must agree: `A [m, k]`, `B [k, n]`, `C [m, n]`.
///
/// # Panics
/// On mismatched shapes: callers derive every shape from one config, so a mismatch is a bug in this crate,
/// never a property of user data.
pub fn matmul(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
    threads: Threads,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(k == k2 && c.dim() == (m, n), "matmul shapes [{m}, {k}]·[{k2}, {n}] → {:?}", c.dim());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides());
    let (c_rs, c_cs) = (sc[0], sc[1]);
    let parallelism = match threads {
        Threads::All if m * n * k >= PARALLEL_MIN_MACS => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the pointers and strides come from live ndarray views whose shapes were checked above to be
    // [m, k], [k, n] and [m, n]; `c` is a unique borrow, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            1.0, // gemm's `alpha` scales the old C
            1.0, // gemm's `beta` scales A·B
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The product written as the definition, as the scalar twin.
    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    #[test]
    fn every_layout_matches_the_definition() {
        let a = Array2::from_shape_fn((37, 19), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((29, 19), |(i, j)| ((i * 5 + j * 13) % 7) as f32 - 3.0);
        for threads in [Threads::All, Threads::One] {
            // x·Wᵀ
            let mut c = Array2::zeros((37, 29));
            matmul(a.view(), b.t(), c.view_mut(), false, threads);
            assert_eq!(c, naive(a.view(), b.t()));
            // Accumulating: twice the product.
            matmul(a.view(), b.t(), c.view_mut(), true, threads);
            assert_eq!(c, naive(a.view(), b.t()) * 2.0);
            // Aᵀ·A into a transposed destination.
            let mut d = Array2::zeros((19, 19));
            matmul(a.t(), a.view(), d.view_mut().reversed_axes(), false, threads);
            assert_eq!(d.t(), naive(a.t(), a.view()));
        }
    }
}
