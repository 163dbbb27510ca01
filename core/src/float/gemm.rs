//! Matrix multiplication behind one small trait, so the host can swap in another GEMM (a threaded
//! one, or the `gemm` crate, or `matrixmultiply`'s sgemm behind the `matrixmultiply` feature) while a
//! heap-less device uses [`NaiveGemm`] or its own allocation-free kernel.
//!
//! Every call site passes strided views; a transposed operand is a view with swapped strides, never a
//! copy (HF stores `Linear.weight` as `[out, in]`, and `x · Wᵀ` reads it column-wise).

/// A read-only strided matrix: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `[rows, cols]` matrix at the start of `data`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose, as a view: no data moves.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }

    /// Whether every element the view names lies inside `data`.
    pub fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }

    /// Element `(r, c)`; for reference implementations and tests.
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// A mutable row-major matrix with a row stride (columns are contiguous): element `(r, c)` is
/// `data[r * row_stride + c]`. A row stride larger than `cols` addresses one head's columns of `[T, H]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

impl<'a> MatMut<'a> {
    /// A dense row-major `[rows, cols]` matrix at the start of `data`.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols }
    }

    /// Whether every element the view names lies inside `data`.
    pub fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.row_stride + self.cols <= self.data.len()
    }
}

/// `c ← alpha · a · b + beta · c` on f32.
pub trait Gemm {
    /// Implementations must first call [`check_gemm_shapes`]: the views come from this crate's own
    /// scratch layout, so a failure there is a bug in this crate, never bad user data. With `beta == 0`
    /// the old contents of `c` are ignored (even NaN).
    fn gemm(&self, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>);
}

/// Panics unless `a [m, k] · b [k, n] → c [m, n]` is consistent and every view stays inside its slice.
/// This guards the raw-pointer GEMM calls below; the float forward pass sizes every view from lengths
/// it has already validated, so it never fires on user input.
pub fn check_gemm_shapes(a: &MatRef<'_>, b: &MatRef<'_>, c: &MatMut<'_>) {
    assert!(
        a.cols == b.rows && a.rows == c.rows && b.cols == c.cols,
        "gemm shapes disagree: [{}, {}] · [{}, {}] → [{}, {}]",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    assert!(a.in_bounds() && b.in_bounds() && c.in_bounds(), "gemm view outside its slice");
    assert!(c.cols <= c.row_stride || c.rows <= 1, "gemm output rows overlap");
}

/// `matrixmultiply::sgemm`: no_std, runtime AVX/FMA detection on the host when its `std` feature is on.
/// Feature `matrixmultiply`: it allocates its packing buffers on every call, the one exception to the crate's
/// no-allocation promise.
#[cfg(feature = "matrixmultiply")]
#[derive(Clone, Copy, Debug, Default)]
pub struct MatrixMultiply;

#[cfg(feature = "matrixmultiply")]
impl Gemm for MatrixMultiply {
    fn gemm(&self, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
        check_gemm_shapes(&a, &b, &c);
        if c.rows == 0 || c.cols == 0 {
            return;
        }
        // SAFETY: check_gemm_shapes proved that every element addressed through these pointers and
        // strides lies inside the three slices, and `c` is borrowed mutably so it aliases neither input.
        unsafe {
            matrixmultiply::sgemm(
                a.rows,
                a.cols,
                b.cols,
                alpha,
                a.data.as_ptr(),
                a.row_stride as isize,
                a.col_stride as isize,
                b.data.as_ptr(),
                b.row_stride as isize,
                b.col_stride as isize,
                beta,
                c.data.as_mut_ptr(),
                c.row_stride as isize,
                1,
            );
        }
    }
}

/// The obviously correct triple loop, the twin every other [`Gemm`] is tested against.
#[derive(Clone, Copy, Debug, Default)]
pub struct NaiveGemm;

impl Gemm for NaiveGemm {
    fn gemm(&self, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
        check_gemm_shapes(&a, &b, &c);
        for r in 0..c.rows {
            for col in 0..c.cols {
                let mut acc = 0.0f32;
                for k in 0..a.cols {
                    acc += a.at(r, k) * b.at(k, col);
                }
                let out = &mut c.data[r * c.row_stride + col];
                *out = if beta == 0.0 { alpha * acc } else { alpha * acc + beta * *out };
            }
        }
    }
}

/// The shared harness: checks any [`Gemm`] against [`NaiveGemm`] on the shapes and stride patterns the
/// encoder uses (plain, `x · Wᵀ`, per-head column slices with a row stride, `beta` 0 and 1, a NaN-filled
/// output with `beta == 0`). Returns the largest absolute difference seen; tests bound it.
pub fn max_diff_against_naive(gemm: &dyn Gemm, buffers: &mut GemmTestBuffers) -> f32 {
    let mut worst = 0.0f32;
    // (m, k, n): odd sizes exercise kernel edges; 64×24×40 covers several micro-tiles.
    for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 24, 40)] {
        for case in 0..4 {
            worst = worst.max(one_case(gemm, buffers, m, k, n, case));
        }
    }
    worst
}

/// Fixed-size buffers for [`max_diff_against_naive`], so the harness itself needs no heap.
pub struct GemmTestBuffers {
    pub a: [f32; 64 * 64],
    pub b: [f32; 48 * 80],
    pub c: [f32; 64 * 80],
    pub c_ref: [f32; 64 * 80],
}

impl GemmTestBuffers {
    pub fn new() -> Self {
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            // xorshift32: deterministic values in [-1, 1).
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        };
        let mut buffers = Self { a: [0.0; 64 * 64], b: [0.0; 48 * 80], c: [0.0; 64 * 80], c_ref: [0.0; 64 * 80] };
        buffers.a.iter_mut().for_each(|v| *v = next());
        buffers.b.iter_mut().for_each(|v| *v = next());
        buffers
    }
}

impl Default for GemmTestBuffers {
    fn default() -> Self {
        Self::new()
    }
}

fn one_case(gemm: &dyn Gemm, buf: &mut GemmTestBuffers, m: usize, k: usize, n: usize, case: usize) -> f32 {
    // case 0: a, b row-major, beta 0 over NaN. 1: b transposed (x · Wᵀ), beta 1.
    // 2: a with a row stride (one head of [T, H]) and c with a row stride. 3: a transposed, alpha 0.125.
    let (alpha, beta) = match case {
        1 => (1.0, 1.0),
        3 => (0.125, 0.0),
        _ => (1.0, 0.0),
    };
    let a = match case {
        2 => MatRef { data: &buf.a[..], rows: m, cols: k, row_stride: 2 * k + 1, col_stride: 1 },
        3 => MatRef::row_major(&buf.a[..], k, m).t(),
        _ => MatRef::row_major(&buf.a[..], m, k),
    };
    let b = match case {
        1 => MatRef::row_major(&buf.b[..], n, k).t(),
        _ => MatRef::row_major(&buf.b[..], k, n),
    };
    let c_stride = if case == 2 { n + 3 } else { n };
    for i in 0..buf.c.len() {
        let start = if beta == 0.0 { f32::NAN } else { (i % 7) as f32 * 0.25 };
        buf.c[i] = start;
        buf.c_ref[i] = start;
    }
    gemm.gemm(alpha, a, b, beta, MatMut { data: &mut buf.c[..], rows: m, cols: n, row_stride: c_stride });
    NaiveGemm.gemm(alpha, a, b, beta, MatMut { data: &mut buf.c_ref[..], rows: m, cols: n, row_stride: c_stride });
    let mut worst = 0.0f32;
    for r in 0..m {
        for col in 0..n {
            let i = r * c_stride + col;
            let d = (buf.c[i] - buf.c_ref[i]).abs();
            // NaN (a kernel that read the NaN output with beta 0) must count as a failure.
            worst = if d.is_nan() { f32::INFINITY } else { worst.max(d) };
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums of at most 48 products of values in [-1, 1): rounding-order differences stay far below 1e-5.
    const GEMM_TOLERANCE: f32 = 1e-5;

    #[test]
    fn matrixmultiply_matches_the_naive_twin() {
        let mut buffers = GemmTestBuffers::new();
        let worst = max_diff_against_naive(&MatrixMultiply, &mut buffers);
        assert!(worst < GEMM_TOLERANCE, "max difference {worst}");
    }

    #[test]
    fn harness_catches_a_wrong_gemm() {
        struct OffByOne;
        impl Gemm for OffByOne {
            fn gemm(&self, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
                let (rows, stride) = (c.rows, c.row_stride);
                MatrixMultiply.gemm(alpha, a, b, beta, MatMut { data: &mut *c.data, ..c });
                c.data[(rows - 1) * stride] += 1e-3;
            }
        }
        let mut buffers = GemmTestBuffers::new();
        assert!(max_diff_against_naive(&OffByOne, &mut buffers) >= 1e-3);
    }

    #[test]
    #[should_panic(expected = "gemm shapes disagree")]
    fn mismatched_shapes_are_caught_before_the_raw_call() {
        let a = [0.0f32; 6];
        let mut c = [0.0f32; 4];
        MatrixMultiply.gemm(
            1.0,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&a, 2, 3),
            0.0,
            MatMut::row_major(&mut c, 2, 2),
        );
    }
}
