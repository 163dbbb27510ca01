//! Dropout (Srivastava et al. 2014) as ELECTRA and HF place it: after the embeddings' LayerNorm, on the
//! attention probabilities, after the attention-output and FFN-output projections (before their residual
//! LayerNorms), and in the task heads. Inverted dropout: kept values are scaled by `1/(1−p)` in training, so
//! evaluation runs the model as it is.
//!
//! Masks are a pure function of `(seed, site, sequence key, element)` (a counter-based hash, not a stream):
//! a sequence's mask does not depend on which micro-batch, rank or thread computes it, nor on what was drawn
//! before, so micro-batches and data-parallel ranks stay equivalent to one process and `--resume` replays
//! the same masks. The caller gives each sequence of the batch its key (for fine-tuning: the example's index in
//! the training file), and mixes the step into the seed.
//!
//! Site names (the ones HF's modules map to): `embeddings`, `layer.{l}.attention.probs`,
//! `layer.{l}.attention.output`, `layer.{l}.output`, `classifier.first` and `classifier.hidden` (sequence
//! classification: before `dense` and before `out_proj`), `classifier` (token classification).

use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Dropout probabilities, by HF config name.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DropoutRates {
    /// `hidden_dropout_prob`: embeddings, attention output, FFN output.
    pub hidden: f32,
    /// `attention_probs_dropout_prob`: the attention probabilities.
    pub attention: f32,
    /// `classifier_dropout` (HF falls back to `hidden_dropout_prob` when it is null): the task heads.
    pub classifier: f32,
}

impl DropoutRates {
    /// No dropout anywhere.
    pub const OFF: Self = Self { hidden: 0.0, attention: 0.0, classifier: 0.0 };
    /// ELECTRA's and BERT's 0.1 everywhere.
    pub const ELECTRA: Self = Self { hidden: 0.1, attention: 0.1, classifier: 0.1 };

    /// The same rate at every site.
    pub const fn uniform(p: f32) -> Self {
        Self { hidden: p, attention: p, classifier: p }
    }

    /// Every rate in `[0, 1)`: a rate of 1 would divide by zero.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden),
            ("attention_probs_dropout_prob", self.attention),
            ("classifier_dropout", self.classifier),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} is {p}; a dropout rate must be in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// Where the masks come from.
#[derive(Debug)]
enum Source<'a> {
    /// No dropout: evaluation, inference and the no-dropout parity tests.
    Off,
    /// Masks hashed from `seed` and each sequence's key (see the module doc).
    Seeded { seed: u64, sequence_keys: &'a [u64] },
    /// Keep masks (0/1, in each site's row-major shape) given by the caller, for parity with a reference that
    /// drew its own. Sites without one keep everything and are listed by [`Dropout::missing_sites`].
    Given { masks: &'a BTreeMap<String, Vec<f32>>, missing: Mutex<Vec<String>> },
}

/// The dropout of one forward pass: rates and a mask source.
#[derive(Debug)]
pub struct Dropout<'a> {
    pub rates: DropoutRates,
    source: Source<'a>,
}

/// How an element's place in its sequence's block becomes the counter its mask value is hashed from. Either way a
/// sequence's masks do not depend on the length its batch is padded to, so a sequence keeps them in any micro-batch
/// or on any rank (fine-tuning pads each slice of a batch to its own longest sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keying {
    /// The element's index in the block: for `[T, width]` blocks (hidden states) a token's element has the same
    /// index whatever `T`.
    Index,
    /// `[A, T, T]` blocks (attention probabilities, `side = T`): the counter packs (head, query, key) into 16 bits
    /// each, so it does not depend on `T`.
    HeadQueryKey { side: usize },
}

impl Keying {
    fn counter(self, e: usize) -> u64 {
        match self {
            Self::HeadQueryKey { side } if side > 0 && side < 1 << 16 => {
                let (head, query, key) = (e / (side * side), (e / side) % side, e % side);
                ((head as u64) << 32) | ((query as u64) << 16) | key as u64
            }
            _ => e as u64,
        }
    }
}

/// A mask already scaled for inverted dropout: `0` where dropped, `1/(1−p)` where kept; row-major in the
/// shape of the tensor it multiplies.
pub type ScaledMask = Vec<f32>;

impl<'a> Dropout<'a> {
    /// No dropout.
    pub const fn off() -> Self {
        Self { rates: DropoutRates::OFF, source: Source::Off }
    }

    /// Masks hashed from `seed`, one key per sequence of the batch (`sequence_keys.len()` must be the batch size).
    pub fn seeded(rates: DropoutRates, seed: u64, sequence_keys: &'a [u64]) -> Self {
        Self { rates, source: Source::Seeded { seed, sequence_keys } }
    }

    /// Masks given by site name.
    pub fn given(rates: DropoutRates, masks: &'a BTreeMap<String, Vec<f32>>) -> Self {
        Self { rates, source: Source::Given { masks, missing: Mutex::new(Vec::new()) } }
    }

    /// Sites a [`Dropout::given`] pass asked for but had no (or a misshapen) mask for.
    pub fn missing_sites(&self) -> Vec<String> {
        match &self.source {
            Source::Given { missing, .. } => missing.lock().map(|m| m.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The scaled mask for `len` values at `site` with probability `p`, or `None` when nothing is dropped
    /// there. The values are `batch` sequences' blocks of `len / batch`, one after the other.
    pub fn mask(&self, site: &str, p: f32, batch: usize, len: usize) -> Option<ScaledMask> {
        self.mask_keyed(site, p, batch, len, Keying::Index)
    }

    /// [`Dropout::mask`] with the blocks' elements counted as `keying` says (given masks are row-major either way).
    pub fn mask_keyed(&self, site: &str, p: f32, batch: usize, len: usize, keying: Keying) -> Option<ScaledMask> {
        if p <= 0.0 {
            return None;
        }
        let scale = 1.0 / (1.0 - p);
        match &self.source {
            Source::Off => None,
            Source::Seeded { seed, sequence_keys } => {
                if batch == 0 || !len.is_multiple_of(batch) || sequence_keys.len() != batch {
                    // A caller bug, not user data: the batch size is the model's own. Dropping nothing keeps the
                    // forward pass correct; the trainer's tests pin the key count.
                    return None;
                }
                let per_sequence = len / batch;
                let site_seed = seed ^ fnv1a(site.as_bytes());
                let threshold = keep_threshold(p);
                let mut mask = vec![0.0f32; len];
                mask.par_chunks_mut(per_sequence).zip(sequence_keys.par_iter()).for_each(|(block, &key)| {
                    let base = splitmix64(site_seed ^ splitmix64(key));
                    for (e, m) in block.iter_mut().enumerate() {
                        // Top 24 bits as the uniform: the same resolution as the trainer's other draws.
                        let u = (splitmix64(base.wrapping_add(keying.counter(e))) >> 40) as u32;
                        *m = if u >= threshold { scale } else { 0.0 };
                    }
                });
                Some(mask)
            }
            Source::Given { masks, missing } => match masks.get(site) {
                Some(keep) if keep.len() == len => {
                    Some(keep.iter().map(|&k| if k != 0.0 { scale } else { 0.0 }).collect())
                }
                _ => {
                    if let Ok(mut m) = missing.lock() {
                        m.push(site.to_string());
                    }
                    None
                }
            },
        }
    }
}

/// Multiplies `x` by `mask` elementwise (forward: apply; backward: the gradient takes the same mask).
pub fn apply(x: &mut [f32], mask: &[f32]) {
    x.par_iter_mut().zip(mask.par_iter()).for_each(|(v, &m)| *v *= m);
}

/// Applies an optional mask in place to a standard-layout array's elements.
pub fn apply_opt(x: &mut ndarray::Array2<f32>, mask: Option<&ScaledMask>) {
    let Some(mask) = mask else { return };
    match x.as_slice_mut() {
        Some(values) => apply(values, mask),
        // Not contiguous: the logical (row-major) order is the mask's.
        None => x.iter_mut().zip(mask).for_each(|(v, &m)| *v *= m),
    }
}

/// A 24-bit draw `u` is kept when `u ≥ ⌊p·2²⁴⌉`, i.e. with probability `1 − p` to within 2⁻²⁴.
fn keep_threshold(p: f32) -> u32 {
    (p as f64 * 16_777_216.0).round() as u32
}

/// splitmix64's output function: a bijective 64-bit mix (Steele, Lea & Flood 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, to turn a site name into a seed offset.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Binomial standard deviations: a keep fraction further than this from `1 − p` is a broken mask, not
    /// chance (6σ has probability ~2·10⁻⁹).
    const SIGMAS: f64 = 6.0;

    #[test]
    fn rate_and_scaling_are_right() {
        for p in [0.1f32, 0.2, 0.5] {
            let keys: Vec<u64> = (0..64).collect();
            let len = 64 * 4096;
            let mask = Dropout::seeded(DropoutRates::uniform(p), 7, &keys).mask("layer.0.output", p, 64, len).unwrap();
            let kept = mask.iter().filter(|&&m| m != 0.0).count();
            let expected = (1.0 - p as f64) * len as f64;
            let sd = (len as f64 * p as f64 * (1.0 - p as f64)).sqrt();
            assert!((kept as f64 - expected).abs() < SIGMAS * sd, "p {p}: kept {kept} of {len}");
            let scale = 1.0 / (1.0 - p);
            assert!(mask.iter().all(|&m| m == 0.0 || m == scale));
            // The mean of the scaled mask is 1: E[dropout(x)] = x.
            let mean = mask.iter().map(|&m| m as f64).sum::<f64>() / len as f64;
            assert!((mean - 1.0).abs() < SIGMAS * sd / expected);
        }
    }

    #[test]
    fn masks_depend_on_sequence_key_not_on_batch_position() {
        let rates = DropoutRates::uniform(0.3);
        let all: Vec<u64> = vec![10, 11, 12, 13];
        let whole = Dropout::seeded(rates, 5, &all).mask("embeddings", 0.3, 4, 4 * 100).unwrap();
        // The same sequences split into two micro-batches, and in another order.
        let first = Dropout::seeded(rates, 5, &all[..2]).mask("embeddings", 0.3, 2, 200).unwrap();
        let swapped = [13u64, 12];
        let second = Dropout::seeded(rates, 5, &swapped).mask("embeddings", 0.3, 2, 200).unwrap();
        assert_eq!(&whole[..200], &first[..]);
        assert_eq!(&whole[300..400], &second[..100]);
        assert_eq!(&whole[200..300], &second[100..]);
        // Other sites, seeds and keys give other masks.
        let other_site = Dropout::seeded(rates, 5, &all).mask("layer.0.output", 0.3, 4, 400).unwrap();
        let other_seed = Dropout::seeded(rates, 6, &all).mask("embeddings", 0.3, 4, 400).unwrap();
        assert_ne!(whole, other_site);
        assert_ne!(whole, other_seed);
        assert_ne!(&whole[..100], &whole[100..200]);
    }

    #[test]
    fn attention_masks_do_not_depend_on_the_padded_length() {
        let (heads, short, long) = (2, 5, 9);
        let keys = [42u64];
        let d = Dropout::seeded(DropoutRates::uniform(0.4), 3, &keys);
        let mask = |t: usize| {
            d.mask_keyed("layer.0.attention.probs", 0.4, 1, heads * t * t, Keying::HeadQueryKey { side: t }).unwrap()
        };
        let (a, b) = (mask(short), mask(long));
        for head in 0..heads {
            for query in 0..short {
                for key in 0..short {
                    let at = |t: usize| (head * t + query) * t + key;
                    assert_eq!(a[at(short)], b[at(long)], "head {head}, query {query}, key {key}");
                }
            }
        }
        // Counted by index instead, the shorter block is not the longer one's corner.
        let by_index = d.mask("layer.0.attention.probs", 0.4, 1, heads * long * long).unwrap();
        assert_ne!(b, by_index);
    }

    #[test]
    fn off_and_zero_rate_drop_nothing_and_given_masks_are_used() {
        assert!(Dropout::off().mask("embeddings", 0.1, 1, 10).is_none());
        let keys = [0u64];
        assert!(Dropout::seeded(DropoutRates::OFF, 1, &keys).mask("embeddings", 0.0, 1, 10).is_none());
        let mut masks = BTreeMap::new();
        masks.insert("classifier".to_string(), vec![1.0, 0.0, 1.0, 1.0]);
        let d = Dropout::given(DropoutRates::uniform(0.5), &masks);
        assert_eq!(d.mask("classifier", 0.5, 1, 4).unwrap(), vec![2.0, 0.0, 2.0, 2.0]);
        assert!(d.mask("embeddings", 0.5, 1, 4).is_none());
        assert!(d.mask("classifier", 0.5, 1, 5).is_none(), "wrong length");
        assert_eq!(d.missing_sites(), vec!["embeddings".to_string(), "classifier".to_string()]);
        assert!(DropoutRates::uniform(1.0).validate().is_err());
        assert!(DropoutRates::ELECTRA.validate().is_ok());
    }
}
