//! Encoder weights packed once per model for the packed kernel, so that no call packs them.
//!
//! The packed kernel ([`super::kernels::x86_vnni`]) multiplies from panels of `b` transposed at
//! 4-byte granularity, and packs each panel on every call. With few rows per call (a short
//! sequence on one core) packing costs about as much as the multiplication itself. The host packs
//! every encoder linear once ([`Model::pack_weights`], into a buffer the caller owns: the core
//! allocates nothing), views them with [`Model::packed_weights`] and passes that to
//! [`Model::run`] ([`super::RunOptions::packed`]). The model file and its
//! in-file weight layout are unchanged; the firmware never packs (`packed_weights_bytes` is 0
//! where there is no packed kernel). Logits are the same bits with or without: the sums are
//! exact integer sums either way.
//!
//! Layout of the buffer: 0 to 63 bytes to reach a 64-byte boundary, then for each layer `l` its
//! `query, key, value, attention_output, intermediate, output` weights, each as
//! `x86_vnni::prepack_i8` writes it; then a 24-byte trailer naming the model. The head is not
//! packed (one small product per row block).

use super::error::RunError;
use super::kernels::PackedB;
use crate::model_file::Model;

/// The six packed linears of one layer, in buffer order.
const LINEARS_PER_LAYER: usize = 6;

/// A model's encoder weights, packed; borrowed from the caller's buffer.
#[derive(Clone, Copy, Debug)]
pub struct PackedWeights<'p> {
    /// 64-byte aligned packed words of every layer.
    words: &'p [i32],
    /// Words per layer and the offset of each linear within a layer.
    per_layer: usize,
    offsets: [usize; LINEARS_PER_LAYER],
    layers: usize,
    /// Address and length of the model bytes these were packed from.
    source: (usize, usize),
}

/// `(n_out, n_in)` of a layer's six linears, in buffer order.
fn shapes(model: &Model) -> [(usize, usize); LINEARS_PER_LAYER] {
    let c = model.config();
    let (h, f) = (c.hidden_size, c.intermediate_size);
    [(h, h), (h, h), (h, h), (h, h), (f, h), (h, f)]
}

#[cfg(target_arch = "x86_64")]
fn words_for(n: usize, k: usize) -> usize {
    super::kernels::x86_vnni::prepacked_words(n, k)
}

#[cfg(not(target_arch = "x86_64"))]
fn words_for(_n: usize, _k: usize) -> usize {
    0
}

fn can_prepack() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::kernels::x86_vnni::can_prepack()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Offsets of the linears within a layer, and words per layer.
fn layer_layout(model: &Model) -> ([usize; LINEARS_PER_LAYER], usize) {
    let mut offsets = [0; LINEARS_PER_LAYER];
    let mut at = 0;
    for (offset, (n, k)) in offsets.iter_mut().zip(shapes(model)) {
        *offset = at;
        at += words_for(n, k);
    }
    (offsets, at)
}

/// Marks the end of a packed buffer, followed by the source model's address and length.
const TRAILER_MAGIC: u64 = u64::from_le_bytes(*b"EEPACK01");
/// Magic, model address, model length: 8 bytes each.
const TRAILER_BYTES: usize = 24;

fn trailer(model: &Model) -> [u8; TRAILER_BYTES] {
    let bytes = model.bytes();
    let mut t = [0u8; TRAILER_BYTES];
    t[..8].copy_from_slice(&TRAILER_MAGIC.to_le_bytes());
    t[8..16].copy_from_slice(&(bytes.as_ptr() as u64).to_le_bytes());
    t[16..].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    t
}

/// Where a model's packed words lie in a caller's buffer.
struct BufferRegion {
    /// Byte range of the words (64-byte aligned start); the trailer follows it.
    words: core::ops::Range<usize>,
    offsets: [usize; LINEARS_PER_LAYER],
    per_layer: usize,
    layers: usize,
    /// [`Model::packed_weights_bytes`].
    needed: usize,
}

impl<'a> Model<'a> {
    /// The layout of this model's packed weights in `buf` (`None` where there is no packed kernel),
    /// or an error if `buf` cannot hold them.
    fn packed_region(&self, buf: &[u8]) -> Result<Option<BufferRegion>, RunError> {
        let needed = self.packed_weights_bytes();
        if needed == 0 {
            return Ok(None);
        }
        if buf.len() < needed {
            return Err(RunError::PackedBufferTooSmall { needed, found: buf.len() });
        }
        let skip = buf.as_ptr().align_offset(64);
        let (offsets, per_layer) = layer_layout(self);
        let layers = self.config().num_hidden_layers;
        let words = skip..skip + per_layer * layers * 4;
        Ok(Some(BufferRegion { words, offsets, per_layer, layers, needed }))
    }

    /// Bytes [`Model::pack_weights`] needs (64 of them for alignment, 24 for a trailer naming the
    /// model); 0 where this CPU has no packed kernel (Arm, x86 without AVX-512 VNNI): there is
    /// nothing to gain there.
    pub fn packed_weights_bytes(&self) -> usize {
        if !can_prepack() {
            return 0;
        }
        let (_, per_layer) = layer_layout(self);
        per_layer.saturating_mul(self.config().num_hidden_layers).saturating_mul(4).saturating_add(64 + TRAILER_BYTES)
    }

    /// Packs every encoder layer's linear weights into `buf` (at least
    /// [`Model::packed_weights_bytes`] bytes, any alignment), once; [`Model::packed_weights`]
    /// then views them for each run. Does nothing where there is no packed kernel.
    pub fn pack_weights(&self, buf: &mut [u8]) -> Result<(), RunError> {
        let Some(region) = self.packed_region(buf)? else {
            return Ok(());
        };
        let BufferRegion { words: span, offsets, per_layer, layers, needed } = region;
        let end = span.end;
        let words: &mut [i32] = bytemuck::cast_slice_mut(&mut buf[span]);
        for l in 0..layers {
            let s = self.layer_spans(l);
            let spans = [s.query, s.key, s.value, s.attention_output, s.intermediate, s.output];
            for ((span, offset), (n, k)) in spans.into_iter().zip(offsets).zip(shapes(self)) {
                let w = self.linear(span)?;
                if w.group.is_some() {
                    // int4 weights go through the int4 kernels, which read the file's nibbles;
                    // their slot in the buffer stays unused.
                    continue;
                }
                let out = &mut words[l * per_layer + offset..];
                #[cfg(target_arch = "x86_64")]
                let packed = super::kernels::x86_vnni::prepack_i8(w.weight, n, k, out);
                #[cfg(not(target_arch = "x86_64"))]
                let packed = {
                    let _ = (w, n, k, out);
                    false
                };
                if !packed {
                    return Err(RunError::PackedBufferTooSmall { needed, found: buf.len() });
                }
            }
        }
        buf[end..end + TRAILER_BYTES].copy_from_slice(&trailer(self));
        Ok(())
    }

    /// A view of `buf` as [`Model::pack_weights`] filled it for this model (`None` where there is
    /// no packed kernel). Fails if `buf` is too short or was packed for another model (its trailer
    /// names the model's address and length, so pack and run the same loaded model).
    pub fn packed_weights<'p>(&self, buf: &'p [u8]) -> Result<Option<PackedWeights<'p>>, RunError> {
        let Some(BufferRegion { words: span, offsets, per_layer, layers, .. }) = self.packed_region(buf)? else {
            return Ok(None);
        };
        if buf[span.end..span.end + TRAILER_BYTES] != trailer(self) {
            return Err(RunError::PackedForAnotherModel);
        }
        let words: &'p [i32] = bytemuck::cast_slice(&buf[span]);
        let bytes = self.bytes();
        Ok(Some(PackedWeights { words, per_layer, offsets, layers, source: (bytes.as_ptr() as usize, bytes.len()) }))
    }
}

impl<'p> PackedWeights<'p> {
    /// Whether these were packed from `model`'s bytes.
    pub(crate) fn check_source(&self, model: &Model) -> Result<(), RunError> {
        let bytes = model.bytes();
        if self.source == (bytes.as_ptr() as usize, bytes.len()) {
            Ok(())
        } else {
            Err(RunError::PackedForAnotherModel)
        }
    }

    /// Layer `l`'s six packed views, in buffer order.
    pub(crate) fn layer(&self, model: &Model, l: usize) -> Option<[PackedB<'p>; LINEARS_PER_LAYER]> {
        if l >= self.layers {
            return None;
        }
        let base = &self.words[l * self.per_layer..(l + 1) * self.per_layer];
        let mut views = [PackedB { words: &[], n_full: 0, k_full: 0, j0: 0, k0: 0 }; LINEARS_PER_LAYER];
        for ((view, &offset), (n, k)) in views.iter_mut().zip(&self.offsets).zip(shapes(model)) {
            *view = PackedB { words: &base[offset..], n_full: n, k_full: k, j0: 0, k0: 0 };
        }
        Some(views)
    }
}
