//! GELU, exact erf form (HF `gelu`): `GELU(u) = u·Φ(u)`, `GELU'(u) = Φ(u) + u·φ(u)`. Elementwise over all
//! cores; used by the FFN and by every head with a hidden dense layer.

use super::gemm::Threads;
use super::kernels;
use super::layout::with_row_major_mut;
use ndarray::Array2;
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

/// The activation's output, and its slope at the input so the backward pass is one multiply.
#[derive(Debug)]
pub struct GeluCache {
    /// `GELU'(u) = Φ(u) + u·φ(u)`, in the buffer that held `u`.
    pub slope: Array2<f32>,
    /// `GELU(u) = u·Φ(u)`.
    pub act: Array2<f32>,
}

/// Applies GELU to `pre`, keeping what the backward pass needs.
pub fn forward(pre: Array2<f32>) -> GeluCache {
    // This crate's activations are all row-major already; anything else is copied once.
    let mut slope = if pre.is_standard_layout() { pre } else { pre.as_standard_layout().into_owned() };
    // Written once by the kernel, never zeroed first.
    let mut act = Array2::uninit(slope.raw_dim());
    with_row_major_mut(&mut slope, |u| {
        with_row_major_mut(&mut act, |o| {
            u.par_chunks_mut(CHUNK).zip(o.par_chunks_mut(CHUNK)).for_each(|(u, o)| kernels::gelu_forward(u, o))
        })
    });
    // SAFETY: `act` has `slope`'s shape, so the chunks pair up one for one and cover every element of `act`;
    // the kernel writes each of its outputs (and a non-row-major `act` would get them copied back).
    let act = unsafe { act.assume_init() };
    GeluCache { slope, act }
}

/// Inference: GELU in place, no slope kept; over all cores or on this thread.
pub fn infer_in_place(x: &mut Array2<f32>, threads: Threads) {
    with_row_major_mut(x, |flat| match threads {
        Threads::All => flat.par_chunks_mut(CHUNK).for_each(kernels::gelu_in_place),
        Threads::One => kernels::gelu_in_place(flat),
    })
}

/// `dpre = dact ⊙ GELU'(pre)`, computed in place in `dact`'s buffer.
pub fn backward(cache: &GeluCache, mut dact: Array2<f32>) -> Array2<f32> {
    match (cache.slope.as_slice(), dact.as_slice_mut()) {
        (Some(s), Some(d)) => {
            s.par_chunks(CHUNK).zip(d.par_chunks_mut(CHUNK)).for_each(|(s, d)| kernels::gelu_backward(s, d))
        }
        _ => dact *= &cache.slope,
    }
    dact
}
