//! GELU, exact erf form (HF `gelu`): `GELU(u) = u·Φ(u)`, `GELU'(u) = Φ(u) + u·φ(u)`. Elementwise over all
//! cores; used by the FFN and by every head with a hidden dense layer.

use super::{kernels, math};
use ndarray::{Array2, Zip};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

/// The activation's input and output, and `Φ(u)` so the backward pass needs one `exp` and no `erf`.
#[derive(Debug)]
pub struct GeluCache {
    /// `u`.
    pub pre: Array2<f32>,
    /// `Φ(u)`.
    pub cdf: Array2<f32>,
    /// `GELU(u)`.
    pub act: Array2<f32>,
}

/// Applies GELU to `pre`, keeping what the backward pass needs.
pub fn forward(pre: Array2<f32>) -> GeluCache {
    // This crate's activations are all row-major already; anything else is copied once.
    let pre = if pre.is_standard_layout() { pre } else { pre.as_standard_layout().into_owned() };
    let u = pre.as_slice().unwrap_or_else(|| unreachable!("standard layout"));
    // Written once each by the kernel, never zeroed first.
    let mut cdf = Array2::uninit(pre.raw_dim());
    let mut act = Array2::uninit(pre.raw_dim());
    let (c, o) = match (cdf.as_slice_mut(), act.as_slice_mut()) {
        (Some(c), Some(o)) => (c, o),
        _ => unreachable!("fresh arrays are standard layout"),
    };
    u.par_chunks(CHUNK)
        .zip(c.par_chunks_mut(CHUNK))
        .zip(o.par_chunks_mut(CHUNK))
        .for_each(|((u, c), o)| kernels::gelu_forward(u, c, o));
    // SAFETY: the chunks cover every element of `cdf` and `act`, and the kernel writes each of its outputs.
    let (cdf, act) = unsafe { (cdf.assume_init(), act.assume_init()) };
    GeluCache { pre, cdf, act }
}

/// `dpre = dact ⊙ GELU'(pre)`, computed in place in `dact`'s buffer.
pub fn backward(cache: &GeluCache, mut dact: Array2<f32>) -> Array2<f32> {
    match (cache.pre.as_slice(), cache.cdf.as_slice(), dact.as_slice_mut()) {
        (Some(u), Some(c), Some(d)) => u
            .par_chunks(CHUNK)
            .zip(c.par_chunks(CHUNK))
            .zip(d.par_chunks_mut(CHUNK))
            .for_each(|((u, c), d)| kernels::gelu_backward(u, c, d)),
        _ => {
            Zip::from(&mut dact).and(&cache.pre).and(&cache.cdf).for_each(|d, &u, &c| *d *= c + u * math::normal_pdf(u))
        }
    }
    dact
}
