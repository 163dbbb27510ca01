//! The host's GEMM choices behind [`electra_core::float::Gemm`]: `matrixmultiply` (the core's own,
//! which on the host also splits large products over up to 4 threads through its `threading` feature)
//! and the `gemm` crate 0.19 (runtime-dispatched AVX2/AVX-512 kernels, rayon parallelism per call).
//! `electra bench-infer --gemm` measures both; see docs/BENCHMARKS.md.

use electra_core::float::gemm::check_gemm_shapes;
use electra_core::float::{Gemm, MatMut, MatRef, MatrixMultiply};
use std::fmt;
use std::str::FromStr;

/// Which GEMM implementation the float encoder calls (a clap `ValueEnum`, so `--help` lists the names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GemmBackend {
    /// `matrixmultiply::sgemm`, as the no_std core uses it on a microcontroller.
    #[value(name = "matrixmultiply")]
    MatrixMultiply,
    /// `gemm::gemm` from the `gemm` crate 0.19.
    #[default]
    #[value(name = "gemm")]
    GemmCrate,
}

impl GemmBackend {
    /// An instance that may use up to `threads` threads inside one product (`gemm` crate only;
    /// `matrixmultiply` decides by itself from `MATMUL_NUM_THREADS`).
    pub fn instance(self, threads: usize) -> Box<dyn Gemm + Sync> {
        match self {
            Self::MatrixMultiply => Box::new(MatrixMultiply),
            Self::GemmCrate => Box::new(GemmCrate { threads }),
        }
    }

    pub const ALL: [GemmBackend; 2] = [GemmBackend::MatrixMultiply, GemmBackend::GemmCrate];
}

impl fmt::Display for GemmBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MatrixMultiply => "matrixmultiply",
            Self::GemmCrate => "gemm",
        })
    }
}

impl FromStr for GemmBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "matrixmultiply" => Ok(Self::MatrixMultiply),
            "gemm" => Ok(Self::GemmCrate),
            other => Err(format!("unknown GEMM backend `{other}` (expected `matrixmultiply` or `gemm`)")),
        }
    }
}

/// `gemm::gemm` with `threads`-way rayon parallelism inside each product (1 = none).
#[derive(Clone, Copy, Debug)]
pub struct GemmCrate {
    pub threads: usize,
}

impl Gemm for GemmCrate {
    fn gemm(&self, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
        check_gemm_shapes(&a, &b, &c);
        if c.rows == 0 || c.cols == 0 {
            return;
        }
        let parallelism =
            if self.threads > 1 { gemm::Parallelism::Rayon(self.threads) } else { gemm::Parallelism::None };
        // SAFETY: check_gemm_shapes proved every addressed element lies inside its slice; `c` is a
        // unique borrow, so the output aliases neither input. `gemm` computes
        // dst = alpha_g·dst + beta_g·lhs·rhs, so our (alpha, beta) map to its (beta, alpha), and with
        // read_dst = false the old contents of dst are never read.
        unsafe {
            gemm::gemm(
                c.rows,
                c.cols,
                a.cols,
                c.data.as_mut_ptr(),
                1,
                c.row_stride as isize,
                beta != 0.0,
                a.data.as_ptr(),
                a.col_stride as isize,
                a.row_stride as isize,
                b.data.as_ptr(),
                b.col_stride as isize,
                b.row_stride as isize,
                beta,
                alpha,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use electra_core::float::gemm::{max_diff_against_naive, GemmTestBuffers};

    /// Same bound as the core's harness: sums of ≤ 48 products of values in [-1, 1).
    const GEMM_TOLERANCE: f32 = 1e-5;

    #[test]
    fn every_backend_matches_the_naive_twin() {
        for backend in GemmBackend::ALL {
            for threads in [1, 2] {
                let mut buffers = Box::new(GemmTestBuffers::new());
                let worst = max_diff_against_naive(&*backend.instance(threads), &mut buffers);
                assert!(worst < GEMM_TOLERANCE, "{backend} with {threads} threads: {worst}");
            }
        }
    }
}
