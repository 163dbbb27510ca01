//! One flat float32 blob holding every parameter of a model, with named views (llm.c's `params_memory`).
//!
//! The layout is computed from the config by the layers themselves ([`ParamSetBuilder::add`]); each layer
//! keeps the [`ParamId`]s it was given. Gradients and optimizer moments are blobs of the same layout
//! ([`ParamSet::zeros_like`]), so one index addresses a parameter, its gradient and its Adam moments alike.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};
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
        ParamSet { data: vec![0.0; self.len], entries: self.entries, by_name }
    }
}

/// A flat float32 blob and the named tensors laid out in it. The default is the empty layout.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamSet {
    data: Vec<f32>,
    entries: Vec<ParamEntry>,
    by_name: HashMap<String, usize>,
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
        Self { data: vec![0.0; self.data.len()], entries: self.entries.clone(), by_name: self.by_name.clone() }
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
        &mut self.data
    }

    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }

    pub fn fill_zero(&mut self) {
        self.data.fill(0.0);
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
        let e = &self.entries[id.0];
        &mut self.data[e.offset..e.offset + e.len]
    }

    /// The contiguous run of values from tensor `first` through tensor `last` (built by consecutive `add`s).
    pub fn span(&self, first: ParamId, last: ParamId) -> &[f32] {
        let (a, b) = (&self.entries[first.0], &self.entries[last.0]);
        &self.data[a.offset..b.offset + b.len]
    }

    pub fn span_mut(&mut self, first: ParamId, last: ParamId) -> &mut [f32] {
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
        let e = &self.entries[id.0];
        let (rows, cols) = matrix_dims(e);
        // The entry's len is rows × cols by construction, so the shape always fits.
        ArrayView2::from_shape((rows, cols), self.slice(id)).unwrap_or_else(|_| unreachable!())
    }

    pub fn matrix_mut(&mut self, id: ParamId) -> ArrayViewMut2<'_, f32> {
        let (rows, cols) = matrix_dims(&self.entries[id.0]);
        ArrayViewMut2::from_shape((rows, cols), self.slice_mut(id)).unwrap_or_else(|_| unreachable!())
    }

    /// The run `first..=last` of matrices with equal column count, stacked as one `[Σ rows, cols]` matrix.
    pub fn stacked_matrix(&self, first: ParamId, last: ParamId) -> ArrayView2<'_, f32> {
        let cols = matrix_dims(&self.entries[first.0]).1;
        let span = self.span(first, last);
        ArrayView2::from_shape((span.len() / cols, cols), span).unwrap_or_else(|_| unreachable!())
    }

    pub fn stacked_matrix_mut(&mut self, first: ParamId, last: ParamId) -> ArrayViewMut2<'_, f32> {
        let cols = matrix_dims(&self.entries[first.0]).1;
        let span = self.span_mut(first, last);
        let rows = span.len() / cols;
        ArrayViewMut2::from_shape((rows, cols), span).unwrap_or_else(|_| unreachable!())
    }

    /// Every tensor as `(name, shape, values)`, in layout order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[usize], &[f32])> {
        self.entries.iter().map(|e| (e.name.as_str(), e.shape.as_slice(), &self.data[e.offset..e.offset + e.len]))
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
}
