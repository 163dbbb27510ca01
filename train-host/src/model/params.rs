//! One flat float32 blob holding every parameter of a model, with named views (llm.c's `params_memory`).
//!
//! The layout is computed from the config by the layers themselves ([`ParamSetBuilder::add`]); each layer
//! keeps the [`ParamId`]s it was given. Gradients and optimizer moments are blobs of the same layout
//! ([`ParamSet::zeros_like`]), so one index addresses a parameter, its gradient and its Adam moments alike.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt;

/// Index of one tensor in a [`ParamSet`]'s layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(usize);

/// Where one named tensor lives in the blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

/// Collects tensor names and shapes in order; [`ParamSetBuilder::finish`] allocates the zeroed blob.
#[derive(Default)]
pub struct ParamSetBuilder {
    entries: Vec<ParamEntry>,
    len: usize,
}

impl ParamSetBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a tensor right after the previous one. Consecutive `add`s are contiguous, which the
    /// attention layer relies on to run query, key and value as one product.
    pub fn add(&mut self, name: impl Into<String>, shape: &[usize]) -> ParamId {
        let len = shape.iter().product();
        self.entries.push(ParamEntry { name: name.into(), shape: shape.to_vec(), offset: self.len, len });
        self.len += len;
        ParamId(self.entries.len() - 1)
    }

    pub fn finish(self) -> ParamSet {
        let by_name = self.entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        ParamSet { data: vec![0.0; self.len], entries: self.entries, by_name, ..ParamSet::default() }
    }
}

/// A flat float32 blob and the named tensors laid out in it. The default is the empty layout.
#[derive(Clone, Debug, Default)]
pub struct ParamSet {
    data: Vec<f32>,
    entries: Vec<ParamEntry>,
    by_name: HashMap<String, usize>,
    /// Bumped by every mutable access to `data`: tells whether `transposed` still matches it.
    version: u64,
    transposed: TransposedCopies,
}

/// Equal values and layout; the transposed copies are a cache, not part of the value.
impl PartialEq for ParamSet {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data && self.entries == other.entries
    }
}

/// Row-major copies of `Wᵀ` for some runs of weight matrices, taken at one version of the blob.
///
/// Why: a forward product `x·Wᵀ` with `W [out, in]` row-major hands `gemm` a column-major right operand, which
/// it multiplies about 15% slower than a row-major one (`examples/gemm_layouts.rs`: 104 vs 93 ms for one micro-batch's encoder forward products); one transpose per
/// optimizer step, shared by every micro-batch, costs less than that.
#[derive(Clone, Debug, Default)]
struct TransposedCopies {
    /// The blob version the copies were taken at; `None` before the first refresh.
    version: Option<u64>,
    /// `(first, last)` tensor indices of a run → offset of its `[in, Σ out]` transpose in `data`.
    offsets: HashMap<(usize, usize), usize>,
    data: Vec<f32>,
}

/// A [`ParamSet`] operation named a tensor the layout lacks, or data of the wrong size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// No tensor of this name in the layout.
    UnknownName(String),
    /// A tensor was given with another number of elements than its shape needs.
    WrongLength { name: String, expected: usize, found: usize },
    /// Two blobs that must share one layout do not.
    LayoutMismatch,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownName(name) => write!(f, "no parameter named `{name}`"),
            Self::WrongLength { name, expected, found } => {
                write!(f, "parameter `{name}` needs {expected} values, got {found}")
            }
            Self::LayoutMismatch => write!(f, "parameter blobs have different layouts"),
        }
    }
}

impl std::error::Error for ParamError {}

impl ParamSet {
    /// A zeroed blob with the same layout (for gradients and optimizer moments).
    pub fn zeros_like(&self) -> Self {
        Self {
            data: vec![0.0; self.data.len()],
            entries: self.entries.clone(),
            by_name: self.by_name.clone(),
            ..Self::default()
        }
    }

    /// Takes row-major copies of `Wᵀ` for each run `(first, last)` of stacked weight matrices (see
    /// [`ParamSet::stacked_matrix`]), valid until the blob is next changed. Runs in parallel.
    pub fn refresh_transposes(&mut self, runs: &[(ParamId, ParamId)]) {
        let current = self.transposed.version == Some(self.version);
        if current && runs.iter().all(|(first, last)| self.transposed.offsets.contains_key(&(first.0, last.0))) {
            return;
        }
        let mut offsets = HashMap::with_capacity(runs.len());
        let mut total = 0;
        for &(first, last) in runs {
            offsets.entry((first.0, last.0)).or_insert_with(|| {
                let offset = total;
                total += self.span(first, last).len();
                offset
            });
        }
        let mut data = std::mem::take(&mut self.transposed.data);
        data.resize(total, 0.0);
        // Disjoint destination per distinct run, in offset order.
        let mut order: Vec<(&(usize, usize), &usize)> = offsets.iter().collect();
        order.sort_by_key(|&(_, &offset)| offset);
        let mut jobs = Vec::with_capacity(order.len());
        let mut rest = data.as_mut_slice();
        for (&(first, last), _) in order {
            let (first, last) = (ParamId(first), ParamId(last));
            let (rows, cols) = self.stacked_dims(first, last); // [Σ out, in]
            let src = &self.span(first, last)[..rows * cols];
            let (dst, tail) = rest.split_at_mut(src.len());
            rest = tail;
            jobs.push((src, rows, cols, dst));
        }
        jobs.into_par_iter().for_each(|(src, rows, cols, dst)| transpose_into(src, rows, cols, dst));
        self.transposed = TransposedCopies { version: Some(self.version), offsets, data };
    }

    /// `Wᵀ [in, Σ out]` of the run `first..=last`, row-major, if [`ParamSet::refresh_transposes`] took it and
    /// nothing has changed the blob since.
    pub fn transposed(&self, first: ParamId, last: ParamId) -> Option<ArrayView2<'_, f32>> {
        if self.transposed.version != Some(self.version) {
            return None;
        }
        let &offset = self.transposed.offsets.get(&(first.0, last.0))?;
        let w = self.stacked_matrix(first, last);
        let (rows, cols) = w.dim();
        let data = self.transposed.data.get(offset..offset + rows * cols)?;
        ArrayView2::from_shape((cols, rows), data).ok()
    }

    /// Stops [`ParamSet::transposed`] from handing out the copies until the next refresh (the buffer is kept), so
    /// that the products read `W` itself whatever an earlier refresh left.
    pub fn forget_transposes(&mut self) {
        self.transposed.version = None;
    }

    /// Whether transposed copies of the current values are held (for tests of when they are taken).
    #[cfg(test)]
    pub(crate) fn transposed_any(&self) -> bool {
        self.transposed.version == Some(self.version) && !self.transposed.offsets.is_empty()
    }

    /// Whether `other` has exactly this layout (names, shapes, offsets).
    pub fn same_layout(&self, other: &ParamSet) -> bool {
        self.entries == other.entries
    }

    /// Number of float32 values in the blob.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [f32] {
        self.version = self.version.wrapping_add(1);
        &mut self.data
    }

    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }

    pub fn fill_zero(&mut self) {
        self.version = self.version.wrapping_add(1);
        self.data.fill(0.0);
    }

    /// Adds the micro-batches' gradient blobs `parts` into this one over `span`, over all cores:
    /// `self ← w₀·self + w₁·parts[0] + w₂·parts[1] + …` with `weights = Some((w₀, [w₁, w₂, …]))`, or the plain
    /// sum with `None` (no multiply at all, so pre-training's sums stay what they were bit for bit). Each element
    /// adds the parts in their order, whatever the number of cores: the result depends on the split, not on the
    /// machine.
    pub fn accumulate(&mut self, parts: &[ParamSet], span: std::ops::Range<usize>, weights: Option<(f32, &[f32])>) {
        const CHUNK: usize = 1 << 14;
        if parts.is_empty() && weights.is_none_or(|(own, _)| own == 1.0) {
            return;
        }
        let start = span.start;
        self.data_mut()[span].par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
            let from = start + c * CHUNK..start + c * CHUNK + out.len();
            if let Some((own, _)) = weights {
                out.iter_mut().for_each(|o| *o *= own);
            }
            for (k, part) in parts.iter().enumerate() {
                let x = &part.data()[from.clone()];
                match weights {
                    Some((_, w)) => {
                        let w = w.get(k).copied().unwrap_or(0.0);
                        out.iter_mut().zip(x).for_each(|(o, &x)| *o += w * x);
                    }
                    None => out.iter_mut().zip(x).for_each(|(o, &x)| *o += x),
                }
            }
        });
    }

    /// The id of the tensor called `name`.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.by_name.get(name).map(|&i| ParamId(i))
    }

    pub fn entry(&self, id: ParamId) -> &ParamEntry {
        &self.entries[id.0]
    }

    /// The values of the tensor called `name`, row-major.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.id(name).map(|id| self.slice(id))
    }

    /// Overwrites the tensor called `name` with `values`.
    pub fn set(&mut self, name: &str, values: &[f32]) -> Result<(), ParamError> {
        let id = self.id(name).ok_or_else(|| ParamError::UnknownName(name.to_string()))?;
        let entry = &self.entries[id.0];
        if entry.len != values.len() {
            return Err(ParamError::WrongLength { name: name.to_string(), expected: entry.len, found: values.len() });
        }
        self.slice_mut(id).copy_from_slice(values);
        Ok(())
    }

    pub fn slice(&self, id: ParamId) -> &[f32] {
        let e = &self.entries[id.0];
        &self.data[e.offset..e.offset + e.len]
    }

    pub fn slice_mut(&mut self, id: ParamId) -> &mut [f32] {
        self.version = self.version.wrapping_add(1);
        let e = &self.entries[id.0];
        &mut self.data[e.offset..e.offset + e.len]
    }

    /// The contiguous run of values from tensor `first` through tensor `last` (built by consecutive `add`s).
    pub fn span(&self, first: ParamId, last: ParamId) -> &[f32] {
        let (a, b) = (&self.entries[first.0], &self.entries[last.0]);
        &self.data[a.offset..b.offset + b.len]
    }

    pub fn span_mut(&mut self, first: ParamId, last: ParamId) -> &mut [f32] {
        self.version = self.version.wrapping_add(1);
        let (a, b) = (&self.entries[first.0], &self.entries[last.0]);
        &mut self.data[a.offset..b.offset + b.len]
    }

    /// A 1-D tensor as an ndarray view.
    pub fn vector(&self, id: ParamId) -> ArrayView1<'_, f32> {
        ArrayView1::from(self.slice(id))
    }

    pub fn vector_mut(&mut self, id: ParamId) -> ArrayViewMut1<'_, f32> {
        ArrayViewMut1::from(self.slice_mut(id))
    }

    /// A 2-D tensor `[rows, cols]` as an ndarray view (HF `Linear.weight` is `[out, in]`).
    pub fn matrix(&self, id: ParamId) -> ArrayView2<'_, f32> {
        view2(self.slice(id), matrix_dims(&self.entries[id.0]))
    }

    pub fn matrix_mut(&mut self, id: ParamId) -> ArrayViewMut2<'_, f32> {
        let dims = matrix_dims(&self.entries[id.0]);
        view2_mut(self.slice_mut(id), dims)
    }

    /// The run `first..=last` of matrices with equal column count, stacked as one `[Σ rows, cols]` matrix.
    pub fn stacked_matrix(&self, first: ParamId, last: ParamId) -> ArrayView2<'_, f32> {
        view2(self.span(first, last), self.stacked_dims(first, last))
    }

    pub fn stacked_matrix_mut(&mut self, first: ParamId, last: ParamId) -> ArrayViewMut2<'_, f32> {
        let dims = self.stacked_dims(first, last);
        view2_mut(self.span_mut(first, last), dims)
    }

    /// `[Σ rows, cols]` of the run `first..=last`: as many whole rows of the first tensor's width as the run
    /// holds (all of it, for matrices of equal width; none, for a zero width).
    fn stacked_dims(&self, first: ParamId, last: ParamId) -> (usize, usize) {
        let cols = matrix_dims(&self.entries[first.0]).1;
        (self.span(first, last).len().checked_div(cols).unwrap_or(0), cols)
    }

    /// Every tensor as `(name, shape, values)`, in layout order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[usize], &[f32])> {
        self.entries.iter().map(|e| (e.name.as_str(), e.shape.as_slice(), &self.data[e.offset..e.offset + e.len]))
    }
}

/// `dst = srcᵀ`: `src` row-major `[rows, cols]` (`rows · cols` values), `dst` row-major `[cols, rows]`.
///
/// Tile size measured on one step's weights (ELECTRA-Small's 96 linear weights, 10M values, read from memory
/// as after an optimizer step, one core, Zen 4): 16 × 16 tiles through a fixed buffer 1.07 ns per value,
/// 8 × 8 1.25 ns, 32 × 32 1.8 ns (more lines of one tile share a cache set than it has ways), and the
/// earlier plain 8 × 8 loop with index checks 1.5 ns.
fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    // Whole tiles go through a fixed-size buffer: whole cache lines are read and written, and fixed bounds let
    // the compiler drop the index checks. The ragged edges take a plain loop.
    const TILE: usize = 16;
    let (full_rows, full_cols) = (rows - rows % TILE, cols - cols % TILE);
    for r0 in (0..full_rows).step_by(TILE) {
        for c0 in (0..full_cols).step_by(TILE) {
            let mut tile = [[0.0f32; TILE]; TILE];
            for (i, row) in tile.iter_mut().enumerate() {
                let start = (r0 + i) * cols + c0;
                row.copy_from_slice(&src[start..start + TILE]);
            }
            for j in 0..TILE {
                let start = (c0 + j) * rows + r0;
                for (o, row) in dst[start..start + TILE].iter_mut().zip(&tile) {
                    *o = row[j];
                }
            }
        }
    }
    let edge = |dst: &mut [f32], r: usize, c: usize| dst[c * rows + r] = src[r * cols + c];
    for r in 0..full_rows {
        for c in full_cols..cols {
            edge(dst, r, c);
        }
    }
    for r in full_rows..rows {
        for c in 0..cols {
            edge(dst, r, c);
        }
    }
}

/// The first `rows · cols` values of `data` as a row-major `[rows, cols]` view.
///
/// Why the `unreachable!`: ndarray has no view constructor for a run-time shape that cannot fail, and the
/// one failure `from_shape` checks for a row-major view (too few values, or a size past `isize::MAX`) is
/// ruled out here by cutting the slice to exactly `rows · cols` values first (a slice that exists holds
/// fewer than `isize::MAX` bytes). A shape that does not fit `data` panics at the cut, naming both lengths.
fn view2(data: &[f32], (rows, cols): (usize, usize)) -> ArrayView2<'_, f32> {
    match ArrayView2::from_shape((rows, cols), &data[..rows * cols]) {
        Ok(view) => view,
        Err(e) => unreachable!("a [{rows}, {cols}] view of exactly {} values: {e}", rows * cols),
    }
}

/// [`view2`], mutable.
fn view2_mut(data: &mut [f32], (rows, cols): (usize, usize)) -> ArrayViewMut2<'_, f32> {
    match ArrayViewMut2::from_shape((rows, cols), &mut data[..rows * cols]) {
        Ok(view) => view,
        Err(e) => unreachable!("a [{rows}, {cols}] view of exactly {} values: {e}", rows * cols),
    }
}

/// `[rows, cols]` of a tensor seen as a matrix: 1-D tensors are one row.
fn matrix_dims(e: &ParamEntry) -> (usize, usize) {
    match e.shape.as_slice() {
        [] => (1, 1),
        [n] => (1, *n),
        [rows, rest @ ..] => (*rows, rest.iter().product()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn views_follow_the_layout_and_runs_stack() {
        let mut b = ParamSetBuilder::new();
        let q = b.add("q.weight", &[2, 3]);
        let k = b.add("k.weight", &[2, 3]);
        let bias = b.add("q.bias", &[2]);
        let mut p = b.finish();
        assert_eq!(p.len(), 14);
        p.set("k.weight", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(p.matrix(k)[[1, 2]], 6.0);
        assert_eq!(p.stacked_matrix(q, k).dim(), (4, 3));
        assert_eq!(p.stacked_matrix(q, k)[[2, 0]], 1.0);
        assert_eq!(p.vector(bias).len(), 2);
        assert_eq!(
            p.set("q.bias", &[1.0]),
            Err(ParamError::WrongLength { name: "q.bias".into(), expected: 2, found: 1 })
        );
        assert_eq!(p.set("nope", &[]), Err(ParamError::UnknownName("nope".into())));
        let g = p.zeros_like();
        assert!(g.same_layout(&p) && g.data().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn transpose_into_matches_the_definition_on_whole_and_ragged_tiles() {
        for rows in [1, 7, 16, 17, 33, 48] {
            for cols in [1, 5, 16, 31, 64] {
                let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
                let mut dst = vec![f32::NAN; rows * cols];
                transpose_into(&src, rows, cols, &mut dst);
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(dst[c * rows + r], src[r * cols + c], "[{rows}, {cols}] at ({r}, {c})");
                    }
                }
            }
        }
    }

    #[test]
    fn transposed_copies_match_and_go_stale_on_any_change() {
        let mut b = ParamSetBuilder::new();
        let q = b.add("q.weight", &[37, 45]);
        let k = b.add("k.weight", &[37, 45]);
        let o = b.add("o.weight", &[3, 2]);
        let mut p = b.finish();
        for (i, v) in p.data_mut().iter_mut().enumerate() {
            *v = i as f32;
        }
        assert!(p.transposed(q, k).is_none(), "nothing taken yet");
        p.refresh_transposes(&[(q, k), (o, o), (q, k)]);
        assert_eq!(p.transposed(q, k).unwrap(), p.stacked_matrix(q, k).t());
        assert_eq!(p.transposed(o, o).unwrap(), p.matrix(o).t());
        assert!(p.transposed(q, q).is_none(), "a run that was not taken");
        let before = p.clone();
        let kept = p.slice(o)[0];
        p.slice_mut(o)[0] = -1.0;
        assert!(p.transposed(o, o).is_none() && p.transposed(q, k).is_none(), "stale after a change");
        assert_ne!(p, before);
        p.slice_mut(o)[0] = kept;
        assert_eq!(p, before, "the cache is not part of the value");
        for mutate in [|p: &mut ParamSet| p.fill_zero(), |p: &mut ParamSet| p.data_mut()[0] = 1.0] {
            p.refresh_transposes(&[(o, o)]);
            mutate(&mut p);
            assert!(p.transposed(o, o).is_none());
        }
    }
}
