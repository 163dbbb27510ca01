//! The one matrix product every layer uses: `C = A·B` or `C += A·B` on float32 views of any strides.
//!
//! Backend: the `gemm` 0.19 crate (runtime-dispatched AVX2/AVX-512 kernels, threads on rayon's pool),
//! chosen over `matrixmultiply` by `benches/gemm_backends.rs` on ELECTRA-Small's products (numbers in
//! `docs/BENCHMARKS.md`). Transposes are free: pass `w.t()`.

use core::mem::MaybeUninit;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

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
    let (dim, strides) = (c.dim(), [c.strides()[0], c.strides()[1]]);
    // SAFETY: `c` is a unique borrow of an initialized [m, n] view with these strides; it aliases neither input.
    unsafe { product_raw(a, b, c.as_mut_ptr(), dim, strides, accumulate, threads) }
}

/// `C = A·B` into a destination that has not been written yet (a fresh `Array::uninit`, or part of one):
/// every element of `c` is written, none is read, so no zeroing pass is needed first. The caller may
/// `assume_init` the elements `c` covers afterwards.
///
/// # Panics
/// On mismatched shapes, as [`matmul`].
pub fn matmul_uninit(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, MaybeUninit<f32>>,
    threads: Threads,
) {
    let (dim, strides) = (c.dim(), [c.strides()[0], c.strides()[1]]);
    // SAFETY: `c` is a unique borrow of an [m, n] view with these strides; `product_raw` with
    // `accumulate == false` only writes through the pointer (as `MaybeUninit<f32>` has `f32`'s layout).
    unsafe { product_raw(a, b, c.as_mut_ptr().cast::<f32>(), dim, strides, false, threads) }
}

/// `A·B` in a new `[m, n]` array, written once (no zeroing pass).
pub fn product(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, threads: Threads) -> Array2<f32> {
    let mut c = Array2::uninit((a.nrows(), b.ncols()));
    matmul_uninit(a, b, c.view_mut(), threads);
    // SAFETY: `matmul_uninit` wrote every element of `c`.
    unsafe { c.assume_init() }
}

/// The one call into `gemm`.
///
/// # Safety
/// `c` must point to an `[m, n]` matrix (`dim`) with element strides `c_strides`, valid for writes, and for
/// reads of initialized floats when `accumulate`; it must alias neither `a` nor `b`.
unsafe fn product_raw(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: *mut f32,
    dim: (usize, usize),
    c_strides: [isize; 2],
    accumulate: bool,
    threads: Threads,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(k == k2 && dim == (m, n), "matmul shapes [{m}, {k}]·[{k2}, {n}] → {dim:?}");
    if m == 0 || n == 0 {
        return;
    }
    let (c_rs, c_cs) = (c_strides[0], c_strides[1]);
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: (i, j) is inside the [m, n] matrix the caller vouched for.
                    unsafe { c.offset(i as isize * c_rs + j as isize * c_cs).write(0.0) };
                }
            }
        }
        return;
    }
    let (sa, sb) = (a.strides(), b.strides());
    let parallelism = match threads {
        Threads::All if m * n * k >= PARALLEL_MIN_MACS => gemm::Parallelism::Rayon(0),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: `a` and `b` are live views whose shapes were checked above to be [m, k] and [k, n]; the caller
    // vouches for `c`. With `read_dst == false` gemm only writes `c`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
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
            // Into unwritten memory, whole and in column blocks.
            assert_eq!(product(a.view(), b.t(), threads), naive(a.view(), b.t()));
            let mut e = Array2::uninit((19, 37));
            matmul_uninit(a.t(), a.view(), e.view_mut().slice_move(ndarray::s![.., ..19]), threads);
            matmul_uninit(
                a.t(),
                a.view().slice_move(ndarray::s![.., ..18]),
                e.view_mut().slice_move(ndarray::s![.., 19..]),
                threads,
            );
            // SAFETY: the two products wrote columns 0..19 and 19..37.
            let e = unsafe { e.assume_init() };
            assert_eq!(e.slice(ndarray::s![.., ..19]), naive(a.t(), a.view()));
            assert_eq!(e.slice(ndarray::s![.., 19..]), naive(a.t(), a.slice(ndarray::s![.., ..18])));
        }
        // An empty inner dimension writes zeros.
        let empty = Array2::<f32>::zeros((4, 0));
        assert_eq!(product(empty.view(), empty.t(), Threads::One), Array2::<f32>::zeros((4, 4)));
    }
}
