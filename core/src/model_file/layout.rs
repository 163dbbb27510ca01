//! Where every tensor of a model file lives, computed from the config alone.
//!
//! The writer and the reader share this one function of `(config, head, extras)`, in the spirit of
//! llm.c's parameter blob with named views: the tensor directory in the file must equal it entry by
//! entry, so a reader never trusts an offset it could not have computed itself.
//!
//! Order in the file: embeddings (the word table, int8 or, format version 5, int4, followed by its
//! row map when pruned, format version 3), `L` encoder layers (each the same size unless some of their linears are int4,
//! format version 4, so layer `l` starts where layer `l - 1` ends), the head, then the optional
//! vocab, tokenizer index and labels section (version 2), in that order.
//! Every tensor starts at a multiple of [`TENSOR_ALIGN`].

use super::format::{DType, FloatType, Int4Tensors, LAYER_LINEARS, TENSOR_ALIGN};
use crate::config::{ElectraConfig, HeadKind};
use core::fmt::Write;

/// Room for the longest tensor name (`electra.encoder.layer.NNNN.attention.output.LayerNorm.weight`, 60 bytes).
pub type TensorName = heapless::String<64>;

/// The largest inner dimension of a matrix product: keeps every int32 accumulator exact
/// (`K · 127 · 128 < 2^31`) with room to spare.
pub const MAX_INNER_DIM: usize = 1 << 16;

/// Bytes `[offset, offset + len)` of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    /// This span moved `by` bytes later.
    const fn shifted(self, by: usize) -> Self {
        Self { offset: self.offset + by, len: self.len }
    }
}

/// A quantized `Linear`: `weight` int8 `[n_out, n_in]`, `scale` f32 `[n_out]`, `bias` f32 `[n_out]`;
/// or, with `group` (format version 4), `weight` int4 `[n_out, n_in]` (two per byte) and `scale`
/// f32 `[n_out, n_in / group]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearSpans {
    pub weight: Span,
    pub scale: Span,
    pub bias: Span,
    pub n_out: usize,
    pub n_in: usize,
    /// Input channels per scale of an int4 weight; `None`: int8 with one scale per output.
    pub group: Option<usize>,
}

/// A `LayerNorm` over `n` features: f32 `weight` and `bias`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerNormSpans {
    pub weight: Span,
    pub bias: Span,
    pub n: usize,
}

/// A quantized embedding table: int8 `[rows, dim]` and one f32 scale per row; or, with `group`
/// (the word table of format version 5), int4 `[rows, dim]` (two per byte) and f32 scales
/// `[rows, dim / group]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingSpans {
    pub weight: Span,
    pub scale: Span,
    pub rows: usize,
    pub dim: usize,
    /// Columns per scale of an int4 table; `None`: int8 with one scale per row.
    pub group: Option<usize>,
}

/// One encoder layer, HF module names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpans {
    pub query: LinearSpans,
    pub key: LinearSpans,
    pub value: LinearSpans,
    pub attention_output: LinearSpans,
    pub attention_layer_norm: LayerNormSpans,
    pub intermediate: LinearSpans,
    pub output: LinearSpans,
    pub output_layer_norm: LayerNormSpans,
}

impl LayerSpans {
    fn shifted(self, by: usize) -> Self {
        let linear = |l: LinearSpans| LinearSpans {
            weight: l.weight.shifted(by),
            scale: l.scale.shifted(by),
            bias: l.bias.shifted(by),
            ..l
        };
        let norm = |n: LayerNormSpans| LayerNormSpans { weight: n.weight.shifted(by), bias: n.bias.shifted(by), ..n };
        Self {
            query: linear(self.query),
            key: linear(self.key),
            value: linear(self.value),
            attention_output: linear(self.attention_output),
            attention_layer_norm: norm(self.attention_layer_norm),
            intermediate: linear(self.intermediate),
            output: linear(self.output),
            output_layer_norm: norm(self.output_layer_norm),
        }
    }
}

/// The output head's tensors, one variant per [`HeadKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadSpans {
    /// `discriminator_predictions.dense` `[H, H]` → GELU → `.dense_prediction` `[1, H]`.
    ReplacedTokenDetection { dense: LinearSpans, prediction: LinearSpans },
    /// `generator_predictions.dense` `[E, H]` → GELU → `.LayerNorm` `[E]` → word embeddings (tied)
    /// + `generator_lm_head.bias` `[V]`.
    MaskedLm { dense: LinearSpans, layer_norm: LayerNormSpans, bias: Span },
    /// `classifier.dense` `[H, H]` → GELU → `classifier.out_proj` `[C, H]` on the first token.
    SequenceClassification { dense: LinearSpans, out_proj: LinearSpans },
    /// `classifier` `[C, H]` on every token.
    TokenClassification { classifier: LinearSpans },
}

/// Why no layout exists for a header.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// An inner dimension exceeds [`MAX_INNER_DIM`].
    DimensionTooLarge { field: &'static str, value: usize },
    /// A classifier head with zero labels.
    NoLabels,
    /// The sizes overflow the address space of this machine.
    TooLarge,
    /// A tokenizer index without the vocab it indexes.
    IndexWithoutVocab,
    /// A pruned word embedding table with no rows, or more rows than the vocab has ids.
    BadWordRows { rows: usize, vocab_size: usize },
    /// A masked-LM head's output layer is tied to every word embedding row: it cannot be pruned.
    PrunedTiedHead,
    /// The int4 group size is zero, odd, or does not divide the input width `n_in` of an int4
    /// linear (`linear` in file order, see [`LAYER_LINEARS`]).
    Int4GroupSize { group_size: u32, linear: usize, n_in: usize },
    /// An int4 bit names a layer the model does not have.
    Int4NoSuchLayer { linear: usize, layer: usize, layers: usize },
    /// The header has an int4 section naming no tensor (a writer never writes one).
    Int4NoTensors,
    /// The int4 word embeddings' group size is zero, odd, or does not divide the embedding width
    /// `dim` (format version 5).
    Int4EmbeddingGroupSize { group_size: u32, dim: usize },
    /// The header says the int4 group scales are f16 (format version 6) but no tensor is int4
    /// (a writer never writes one).
    F16ScalesWithoutInt4,
}

/// Every tensor's place in the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub config: ElectraConfig,
    pub head: HeadKind,
    pub word_embeddings: EmbeddingSpans,
    /// The id → row map of a pruned word table (`word_embeddings.rows + 1` u32 words; format
    /// version 3), after the table's scales.
    pub word_row_map: Option<Span>,
    pub position_embeddings: EmbeddingSpans,
    pub token_type_embeddings: EmbeddingSpans,
    pub embeddings_layer_norm: LayerNormSpans,
    /// Present when `E ≠ H`.
    pub embeddings_project: Option<LinearSpans>,
    /// Which encoder linears are int4 (format version 4).
    pub int4: Option<Int4Tensors>,
    /// How every int4 tensor's group scales are stored (f16: format version 6).
    pub int4_scales: FloatType,
    /// How every bias and LayerNorm parameter is stored (f16: format version 7).
    pub biases_and_norms: FloatType,
    first_layer: LayerSpans,
    /// Bytes of a layer in which every linear is int8 (every layer when there is no int4).
    layer_stride: usize,
    pub head_spans: HeadSpans,
    pub vocab: Option<Span>,
    pub tokenizer_index: Option<Span>,
    /// The labels section (class names and problem type), if any.
    pub labels: Option<Span>,
    /// Length of the whole file.
    pub file_len: usize,
}

/// Hands out aligned spans in file order, with every sum checked.
struct Cursor {
    at: usize,
    /// The dtype of int4 group scales.
    group_scales: DType,
    /// The dtype of biases and LayerNorm parameters.
    params: DType,
}

impl Cursor {
    fn take(&mut self, elements: usize, dtype: DType) -> Result<Span, LayoutError> {
        let len = dtype.bytes_for(elements).ok_or(LayoutError::TooLarge)?;
        let span = Span { offset: self.at, len };
        self.at = align_up(self.at.checked_add(len).ok_or(LayoutError::TooLarge)?).ok_or(LayoutError::TooLarge)?;
        Ok(span)
    }

    fn rows(rows: usize, cols: usize) -> Result<usize, LayoutError> {
        rows.checked_mul(cols).ok_or(LayoutError::TooLarge)
    }

    fn linear(&mut self, n_out: usize, n_in: usize) -> Result<LinearSpans, LayoutError> {
        self.linear_q(n_out, n_in, None)
    }

    /// An int8 linear, or an int4 one with groups of `group` (which must divide `n_in`).
    fn linear_q(&mut self, n_out: usize, n_in: usize, group: Option<usize>) -> Result<LinearSpans, LayoutError> {
        let (dtype, scales, scale_dtype) = match group {
            None => (DType::I8, n_out, DType::F32),
            Some(g) => {
                (DType::I4, Self::rows(n_out, n_in.checked_div(g).ok_or(LayoutError::TooLarge)?)?, self.group_scales)
            }
        };
        Ok(LinearSpans {
            weight: self.take(Self::rows(n_out, n_in)?, dtype)?,
            scale: self.take(scales, scale_dtype)?,
            bias: self.take(n_out, self.params)?,
            n_out,
            n_in,
            group,
        })
    }

    /// One encoder layer from here on, its linears int4 where `groups` says so (file order).
    fn layer(&mut self, h: usize, f: usize, groups: [Option<usize>; LAYER_LINEARS]) -> Result<LayerSpans, LayoutError> {
        let [q, k, v, ao, i, o] = groups;
        Ok(LayerSpans {
            query: self.linear_q(h, h, q)?,
            key: self.linear_q(h, h, k)?,
            value: self.linear_q(h, h, v)?,
            attention_output: self.linear_q(h, h, ao)?,
            attention_layer_norm: self.layer_norm(h)?,
            intermediate: self.linear_q(f, h, i)?,
            output: self.linear_q(h, f, o)?,
            output_layer_norm: self.layer_norm(h)?,
        })
    }

    fn layer_norm(&mut self, n: usize) -> Result<LayerNormSpans, LayoutError> {
        Ok(LayerNormSpans { weight: self.take(n, self.params)?, bias: self.take(n, self.params)?, n })
    }

    fn embedding(&mut self, rows: usize, dim: usize) -> Result<EmbeddingSpans, LayoutError> {
        self.embedding_q(rows, dim, None)
    }

    /// An int8 table, or an int4 one with groups of `group` (which must divide `dim`).
    fn embedding_q(&mut self, rows: usize, dim: usize, group: Option<usize>) -> Result<EmbeddingSpans, LayoutError> {
        let (dtype, scales, scale_dtype) = match group {
            None => (DType::I8, rows, DType::F32),
            Some(g) => {
                (DType::I4, Self::rows(rows, dim.checked_div(g).ok_or(LayoutError::TooLarge)?)?, self.group_scales)
            }
        };
        Ok(EmbeddingSpans {
            weight: self.take(Self::rows(rows, dim)?, dtype)?,
            scale: self.take(scales, scale_dtype)?,
            rows,
            dim,
            group,
        })
    }
}

/// `at` rounded up to a multiple of [`TENSOR_ALIGN`].
pub const fn align_up(at: usize) -> Option<usize> {
    match at.checked_add(TENSOR_ALIGN - 1) {
        Some(v) => Some(v / TENSOR_ALIGN * TENSOR_ALIGN),
        None => None,
    }
}

impl Layout {
    /// The layout of a file whose tensor data starts at `data_offset` (a multiple of
    /// [`TENSOR_ALIGN`]), with an embedded vocab of `vocab_bytes` and a tokenizer index of
    /// `index_words` words when given, and a labels section of `labels_bytes`; a word table of
    /// `word_rows` rows and a row map when pruned (else `vocab_size` rows), int4 in groups of
    /// `word_int4_group` when given (format version 5), and the encoder linears `int4` names
    /// stored as int4, their group scales (and the int4 word table's) stored as `int4_scales` says
    /// (f16: format version 6), and every bias and LayerNorm parameter as `biases_and_norms` says
    /// (f16: format version 7). The config must already be valid.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &ElectraConfig,
        head: HeadKind,
        data_offset: usize,
        vocab_bytes: Option<usize>,
        index_words: Option<usize>,
        labels_bytes: Option<usize>,
        word_rows: Option<usize>,
        word_int4_group: Option<u32>,
        int4: Option<Int4Tensors>,
        int4_scales: FloatType,
        biases_and_norms: FloatType,
    ) -> Result<Self, LayoutError> {
        for (field, value) in [
            ("embedding_size", config.embedding_size),
            ("hidden_size", config.hidden_size),
            ("intermediate_size", config.intermediate_size),
            ("max_position_embeddings", config.max_position_embeddings),
        ] {
            if value > MAX_INNER_DIM {
                return Err(LayoutError::DimensionTooLarge { field, value });
            }
        }
        let (v, e, h, f) = (config.vocab_size, config.embedding_size, config.hidden_size, config.intermediate_size);
        if int4_scales == FloatType::F16 && int4.is_none() && word_int4_group.is_none() {
            return Err(LayoutError::F16ScalesWithoutInt4);
        }
        let mut cursor =
            Cursor { at: data_offset, group_scales: int4_scales.dtype(), params: biases_and_norms.dtype() };
        let word_group = match word_int4_group {
            // Even, so a group never ends mid-byte; dividing E, so it never straddles a row.
            Some(g) if g == 0 || !g.is_multiple_of(2) || !e.is_multiple_of(g as usize) => {
                return Err(LayoutError::Int4EmbeddingGroupSize { group_size: g, dim: e })
            }
            Some(g) => Some(g as usize),
            None => None,
        };
        let word_embeddings = cursor.embedding_q(word_rows.unwrap_or(v), e, word_group)?;
        let word_row_map = match word_rows {
            Some(rows) if rows == 0 || rows > v => return Err(LayoutError::BadWordRows { rows, vocab_size: v }),
            Some(_) if head == HeadKind::MaskedLm => return Err(LayoutError::PrunedTiedHead),
            Some(rows) => Some(cursor.take(rows.checked_add(1).ok_or(LayoutError::TooLarge)?, DType::U32)?),
            None => None,
        };
        let position_embeddings = cursor.embedding(config.max_position_embeddings, e)?;
        let token_type_embeddings = cursor.embedding(config.type_vocab_size, e)?;
        let embeddings_layer_norm = cursor.layer_norm(e)?;
        let embeddings_project = if config.has_embeddings_project() { Some(cursor.linear(h, e)?) } else { None };

        let layer_start = cursor.at;
        let first_layer = cursor.layer(h, f, [None; LAYER_LINEARS])?;
        let layer_stride = cursor.at - layer_start;
        match int4 {
            None => {
                let all_layers = layer_stride.checked_mul(config.num_hidden_layers).ok_or(LayoutError::TooLarge)?;
                cursor.at = layer_start.checked_add(all_layers).ok_or(LayoutError::TooLarge)?;
            }
            Some(int4) => {
                check_int4(&int4, config)?;
                // Layer sizes differ: lay them out one after the other (`layer` does the same).
                cursor.at = layer_start;
                for l in 0..config.num_hidden_layers {
                    cursor.layer(h, f, groups_of(Some(&int4), l))?;
                }
            }
        }

        let head_spans = match head {
            HeadKind::ReplacedTokenDetection => {
                HeadSpans::ReplacedTokenDetection { dense: cursor.linear(h, h)?, prediction: cursor.linear(1, h)? }
            }
            HeadKind::MaskedLm => HeadSpans::MaskedLm {
                dense: cursor.linear(e, h)?,
                layer_norm: cursor.layer_norm(e)?,
                bias: cursor.take(v, biases_and_norms.dtype())?,
            },
            HeadKind::SequenceClassification { num_labels } => {
                if num_labels == 0 {
                    return Err(LayoutError::NoLabels);
                }
                HeadSpans::SequenceClassification {
                    dense: cursor.linear(h, h)?,
                    out_proj: cursor.linear(num_labels, h)?,
                }
            }
            HeadKind::TokenClassification { num_labels } => {
                if num_labels == 0 {
                    return Err(LayoutError::NoLabels);
                }
                HeadSpans::TokenClassification { classifier: cursor.linear(num_labels, h)? }
            }
        };
        let vocab = match vocab_bytes {
            Some(n) => Some(cursor.take(n, DType::U8)?),
            None => None,
        };
        let tokenizer_index = match (index_words, vocab) {
            (Some(n), Some(_)) => Some(cursor.take(n, DType::U32)?),
            (Some(_), None) => return Err(LayoutError::IndexWithoutVocab),
            (None, _) => None,
        };
        let labels = match labels_bytes {
            Some(n) => Some(cursor.take(n, DType::U8)?),
            None => None,
        };
        // The last tensor's padding is not part of the file.
        let file_len = match labels.or(tokenizer_index).or(vocab) {
            Some(s) => s.offset + s.len,
            None => last_head_span(&head_spans).map_or(cursor.at, |s| s.offset + s.len),
        };
        Ok(Self {
            config: *config,
            head,
            word_embeddings,
            word_row_map,
            position_embeddings,
            token_type_embeddings,
            embeddings_layer_norm,
            embeddings_project,
            int4,
            int4_scales,
            biases_and_norms,
            first_layer,
            layer_stride,
            head_spans,
            vocab,
            tokenizer_index,
            labels,
            file_len,
        })
    }

    /// Encoder layer `index` (`< num_hidden_layers`).
    pub fn layer(&self, index: usize) -> LayerSpans {
        let Some(int4) = self.int4 else {
            return self.first_layer.shifted(index * self.layer_stride);
        };
        // Walks the layers before it (a dozen small sums); `new` already laid out every layer of
        // this config without overflow, so the fallback below is never taken.
        let (h, f) = (self.config.hidden_size, self.config.intermediate_size);
        let mut cursor = Cursor {
            at: self.first_layer.query.weight.offset,
            group_scales: self.int4_scales.dtype(),
            params: self.biases_and_norms.dtype(),
        };
        for l in 0..index {
            if cursor.layer(h, f, groups_of(Some(&int4), l)).is_err() {
                return self.first_layer;
            }
        }
        cursor.layer(h, f, groups_of(Some(&int4), index)).unwrap_or(self.first_layer)
    }

    /// Number of directory entries.
    pub fn tensor_count(&self) -> usize {
        let mut count = 0;
        let _ = self.try_for_each_entry(|_| -> Result<(), ()> {
            count += 1;
            Ok(())
        });
        count
    }

    /// Calls `f` for every tensor group in file order.
    pub fn try_for_each_group<E>(&self, mut f: impl FnMut(Group) -> Result<(), E>) -> Result<(), E> {
        use Group::*;
        f(Embedding(Prefix::top("electra.embeddings.word_embeddings"), self.word_embeddings))?;
        if let Some(span) = self.word_row_map {
            f(WordRowMap(span))?;
        }
        f(Embedding(Prefix::top("electra.embeddings.position_embeddings"), self.position_embeddings))?;
        f(Embedding(Prefix::top("electra.embeddings.token_type_embeddings"), self.token_type_embeddings))?;
        f(LayerNorm(Prefix::top("electra.embeddings.LayerNorm"), self.embeddings_layer_norm))?;
        if let Some(project) = self.embeddings_project {
            f(Linear(Prefix::top("electra.embeddings_project"), project))?;
        }
        for l in 0..self.config.num_hidden_layers {
            let s = self.layer(l);
            f(Linear(Prefix::layer(l, "attention.self.query"), s.query))?;
            f(Linear(Prefix::layer(l, "attention.self.key"), s.key))?;
            f(Linear(Prefix::layer(l, "attention.self.value"), s.value))?;
            f(Linear(Prefix::layer(l, "attention.output.dense"), s.attention_output))?;
            f(LayerNorm(Prefix::layer(l, "attention.output.LayerNorm"), s.attention_layer_norm))?;
            f(Linear(Prefix::layer(l, "intermediate.dense"), s.intermediate))?;
            f(Linear(Prefix::layer(l, "output.dense"), s.output))?;
            f(LayerNorm(Prefix::layer(l, "output.LayerNorm"), s.output_layer_norm))?;
        }
        match self.head_spans {
            HeadSpans::ReplacedTokenDetection { dense, prediction } => {
                f(Linear(Prefix::top("discriminator_predictions.dense"), dense))?;
                f(Linear(Prefix::top("discriminator_predictions.dense_prediction"), prediction))?;
            }
            HeadSpans::MaskedLm { dense, layer_norm, bias } => {
                f(Linear(Prefix::top("generator_predictions.dense"), dense))?;
                f(LayerNorm(Prefix::top("generator_predictions.LayerNorm"), layer_norm))?;
                f(Bias(Prefix::top("generator_lm_head"), bias, self.config.vocab_size))?;
            }
            HeadSpans::SequenceClassification { dense, out_proj } => {
                f(Linear(Prefix::top("classifier.dense"), dense))?;
                f(Linear(Prefix::top("classifier.out_proj"), out_proj))?;
            }
            HeadSpans::TokenClassification { classifier } => f(Linear(Prefix::top("classifier"), classifier))?,
        }
        if let Some(span) = self.vocab {
            f(Vocab(span))?;
        }
        if let Some(span) = self.tokenizer_index {
            f(TokenizerIndex(span))?;
        }
        if let Some(span) = self.labels {
            f(Labels(span))?;
        }
        Ok(())
    }

    /// Calls `f` for every directory entry in file order.
    pub fn try_for_each_entry<E>(&self, mut f: impl FnMut(&EntrySpec) -> Result<(), E>) -> Result<(), E> {
        let params = self.biases_and_norms.dtype();
        self.try_for_each_group(|group| {
            let mut emit =
                |name: TensorName, dtype, shape: [usize; 2], span| f(&EntrySpec { name, dtype, shape, span });
            match group {
                Group::Linear(p, s) => match s.group {
                    None => {
                        emit(p.name(".weight"), DType::I8, [s.n_out, s.n_in], s.weight)?;
                        emit(p.name(".weight_scale"), DType::F32, [1, s.n_out], s.scale)?;
                        emit(p.name(".bias"), params, [1, s.n_out], s.bias)
                    }
                    Some(g) => {
                        emit(p.name(".weight"), DType::I4, [s.n_out, s.n_in], s.weight)?;
                        let dtype = self.int4_scales.dtype();
                        emit(p.name(".weight_scale"), dtype, [s.n_out, s.n_in / g.max(1)], s.scale)?;
                        emit(p.name(".bias"), params, [1, s.n_out], s.bias)
                    }
                },
                Group::LayerNorm(p, s) => {
                    emit(p.name(".weight"), params, [1, s.n], s.weight)?;
                    emit(p.name(".bias"), params, [1, s.n], s.bias)
                }
                Group::Embedding(p, s) => match s.group {
                    None => {
                        emit(p.name(".weight"), DType::I8, [s.rows, s.dim], s.weight)?;
                        emit(p.name(".weight_scale"), DType::F32, [1, s.rows], s.scale)
                    }
                    Some(g) => {
                        emit(p.name(".weight"), DType::I4, [s.rows, s.dim], s.weight)?;
                        emit(p.name(".weight_scale"), self.int4_scales.dtype(), [s.rows, s.dim / g.max(1)], s.scale)
                    }
                },
                Group::Bias(p, span, n) => emit(p.name(".bias"), params, [1, n], span),
                Group::Vocab(span) => emit(Prefix::top(VOCAB_NAME).name(""), DType::U8, [1, span.len], span),
                Group::TokenizerIndex(span) => {
                    emit(Prefix::top(TOKENIZER_INDEX_NAME).name(""), DType::U32, [1, span.len / 4], span)
                }
                Group::Labels(span) => emit(Prefix::top(LABELS_NAME).name(""), DType::U8, [1, span.len], span),
                Group::WordRowMap(span) => {
                    emit(Prefix::top(WORD_ROW_MAP_NAME).name(""), DType::U32, [1, span.len / 4], span)
                }
            }
        })
    }
}

/// The group size of each of layer `l`'s linears (file order), `None` for int8.
fn groups_of(int4: Option<&Int4Tensors>, l: usize) -> [Option<usize>; LAYER_LINEARS] {
    let mut groups = [None; LAYER_LINEARS];
    if let Some(int4) = int4 {
        for (i, g) in groups.iter_mut().enumerate() {
            *g = int4.group_of(l, i);
        }
    }
    groups
}

/// An int4 set must name at least one tensor, of layers the model has, and its group size must
/// be even (a group never ends mid-byte) and divide the input width of every tensor it names.
fn check_int4(int4: &Int4Tensors, config: &ElectraConfig) -> Result<(), LayoutError> {
    let layers = config.num_hidden_layers;
    if int4.layers.iter().all(|&mask| mask == 0) {
        return Err(LayoutError::Int4NoTensors);
    }
    let (h, f) = (config.hidden_size, config.intermediate_size);
    for (linear, &mask) in int4.layers.iter().enumerate() {
        if mask == 0 {
            continue;
        }
        let top = 63 - mask.leading_zeros() as usize;
        if top >= layers {
            return Err(LayoutError::Int4NoSuchLayer { linear, layer: top, layers });
        }
        // `output.dense` reads the intermediate width; the other five the hidden width.
        let n_in = if linear == 5 { f } else { h };
        let g = int4.group_size as usize;
        if g == 0 || !g.is_multiple_of(2) || !n_in.is_multiple_of(g) {
            return Err(LayoutError::Int4GroupSize { group_size: int4.group_size, linear, n_in });
        }
    }
    Ok(())
}

fn last_head_span(head: &HeadSpans) -> Option<Span> {
    Some(match *head {
        HeadSpans::ReplacedTokenDetection { prediction, .. } => prediction.bias,
        HeadSpans::MaskedLm { bias, .. } => bias,
        HeadSpans::SequenceClassification { out_proj, .. } => out_proj.bias,
        HeadSpans::TokenClassification { classifier } => classifier.bias,
    })
}

/// The HF module path of each of a layer's [`LAYER_LINEARS`] linears, in file order.
pub const LAYER_LINEAR_NAMES: [&str; LAYER_LINEARS] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Directory name of the embedded vocab.
pub const VOCAB_NAME: &str = "vocab.txt";
/// Directory name of the embedded tokenizer index.
pub const TOKENIZER_INDEX_NAME: &str = "tokenizer.index";
/// Directory name of the labels section.
pub const LABELS_NAME: &str = "labels";
/// Directory name of the pruned word table's id → row map (format version 3).
pub const WORD_ROW_MAP_NAME: &str = "electra.embeddings.word_embeddings.row_map";

/// The HF module path a group of tensors belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// `Some(l)` for `electra.encoder.layer.{l}.{path}`.
    pub layer: Option<usize>,
    pub path: &'static str,
}

impl Prefix {
    const fn top(path: &'static str) -> Self {
        Self { layer: None, path }
    }

    const fn layer(layer: usize, path: &'static str) -> Self {
        Self { layer: Some(layer), path }
    }

    /// The full name of one tensor of this module: `prefix + suffix` (suffix like `.weight`).
    pub fn name(&self, suffix: &str) -> TensorName {
        let mut name = TensorName::new();
        // Cannot overflow: the longest prefix plus suffix is well under the capacity for any
        // layer index below 10^30 (`names_fit` test).
        let _ = match self.layer {
            Some(l) => write!(name, "electra.encoder.layer.{l}.{}{suffix}", self.path),
            None => write!(name, "{}{suffix}", self.path),
        };
        name
    }
}

/// A set of tensors that are written together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Linear(Prefix, LinearSpans),
    LayerNorm(Prefix, LayerNormSpans),
    Embedding(Prefix, EmbeddingSpans),
    /// A lone bias vector of `n` values (the generator's `generator_lm_head.bias`).
    Bias(Prefix, Span, usize),
    Vocab(Span),
    TokenizerIndex(Span),
    /// The labels section (names and problem type; see `format`).
    Labels(Span),
    /// The id → row map of a pruned word embedding table (see `format`).
    WordRowMap(Span),
}

/// What the directory must say about one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySpec {
    pub name: TensorName,
    pub dtype: DType,
    pub shape: [usize; 2],
    pub span: Span,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_heads() -> [HeadKind; 4] {
        [
            HeadKind::ReplacedTokenDetection,
            HeadKind::MaskedLm,
            HeadKind::SequenceClassification { num_labels: 3 },
            HeadKind::TokenClassification { num_labels: 5 },
        ]
    }

    #[test]
    fn entries_are_aligned_increasing_and_end_at_file_len() {
        for config in [ElectraConfig::small(), ElectraConfig::tiny(), ElectraConfig::tiny_generator()] {
            for head in all_heads() {
                let extras = [(None, None, None), (Some(1001), None, None), (Some(77), Some(13), None)];
                for extras in extras.into_iter().chain([(None, None, Some(21)), (Some(77), Some(13), Some(40))]) {
                    let layout = Layout::new(
                        &config,
                        head,
                        128,
                        extras.0,
                        extras.1,
                        extras.2,
                        None,
                        None,
                        None,
                        FloatType::F32,
                        FloatType::F32,
                    )
                    .unwrap();
                    let mut next = 128;
                    let mut last_end = 0;
                    layout
                        .try_for_each_entry(|e| -> Result<(), ()> {
                            assert_eq!(e.span.offset % TENSOR_ALIGN, 0, "{}", e.name);
                            assert!(e.span.offset >= next, "{} overlaps", e.name);
                            assert_eq!(Some(e.span.len), e.dtype.bytes_for(e.shape[0] * e.shape[1]), "{}", e.name);
                            next = align_up(e.span.offset + e.span.len).unwrap();
                            last_end = e.span.offset + e.span.len;
                            Ok(())
                        })
                        .unwrap();
                    assert_eq!(last_end, layout.file_len);
                }
            }
        }
    }

    #[test]
    fn names_fit_and_follow_hf() {
        let config = ElectraConfig { num_hidden_layers: 1000, ..ElectraConfig::tiny() };
        let layout = Layout::new(
            &config,
            HeadKind::ReplacedTokenDetection,
            64,
            None,
            None,
            None,
            None,
            None,
            None,
            FloatType::F32,
            FloatType::F32,
        )
        .unwrap();
        let mut names = std::vec::Vec::new();
        layout
            .try_for_each_entry(|e| -> Result<(), ()> {
                names.push(e.name.clone());
                Ok(())
            })
            .unwrap();
        assert!(names.iter().any(|n| n == "electra.encoder.layer.999.attention.output.LayerNorm.weight"));
        assert!(names.iter().any(|n| n == "electra.encoder.layer.0.attention.self.query.weight_scale"));
        assert_eq!(names[0], "electra.embeddings.word_embeddings.weight");
        assert_eq!(names.len(), layout.tensor_count());
    }

    #[test]
    fn small_discriminator_fits_in_14_mib() {
        let vocab = 231_508; // bytes of data/vocab.txt
        let layout = Layout::new(
            &ElectraConfig::small(),
            HeadKind::ReplacedTokenDetection,
            64,
            Some(vocab),
            None,
            None,
            None,
            None,
            None,
            FloatType::F32,
            FloatType::F32,
        )
        .unwrap();
        assert!(layout.file_len < 14 << 20, "{}", layout.file_len);
    }

    #[test]
    fn int4_word_table_takes_half_a_byte_a_value_plus_group_scales_and_refuses_bad_groups() {
        let config = ElectraConfig::small();
        let head = HeadKind::SequenceClassification { num_labels: 2 };
        let int8 =
            Layout::new(&config, head, 64, None, None, None, None, None, None, FloatType::F32, FloatType::F32).unwrap();
        let (v, e) = (config.vocab_size, config.embedding_size);
        for g in [2usize, 32, 128] {
            let int4 = Layout::new(
                &config,
                head,
                64,
                None,
                None,
                None,
                None,
                Some(g as u32),
                None,
                FloatType::F32,
                FloatType::F32,
            )
            .unwrap();
            let w = int4.word_embeddings;
            assert_eq!((w.group, w.weight.len, w.scale.len), (Some(g), v * e / 2, v * (e / g) * 4));
            assert_eq!(int8.word_embeddings.group, None);
            assert_eq!(int4.position_embeddings.group, None, "only the word table is int4");
            assert_eq!(int4.tensor_count(), int8.tensor_count());
            // Groups of 2 carry a 4-byte scale per 2 values: larger than int8 rows.
            assert_eq!(int4.file_len < int8.file_len, g > 2, "g{g}");
        }
        // Pruned and int4 together: the map still follows the scales.
        let both = Layout::new(
            &config,
            head,
            64,
            None,
            None,
            None,
            Some(1000),
            Some(32),
            None,
            FloatType::F32,
            FloatType::F32,
        )
        .unwrap();
        assert!(both.word_row_map.is_some_and(|m| m.offset > both.word_embeddings.scale.offset));
        for g in [0u32, 3, 48, 256] {
            assert_eq!(
                Layout::new(&config, head, 64, None, None, None, None, Some(g), None, FloatType::F32, FloatType::F32),
                Err(LayoutError::Int4EmbeddingGroupSize { group_size: g, dim: e })
            );
        }
    }

    #[test]
    fn pruned_word_table_has_its_map_next_and_refuses_bad_row_counts() {
        let config = ElectraConfig::tiny();
        let head = HeadKind::SequenceClassification { num_labels: 2 };
        let full =
            Layout::new(&config, head, 64, None, None, None, None, None, None, FloatType::F32, FloatType::F32).unwrap();
        let pruned =
            Layout::new(&config, head, 64, None, None, None, Some(7), None, None, FloatType::F32, FloatType::F32)
                .unwrap();
        assert_eq!(pruned.word_embeddings.rows, 7);
        let map = pruned.word_row_map.unwrap();
        assert_eq!(map.len, 8 * 4);
        assert!(
            map.offset > pruned.word_embeddings.scale.offset && map.offset < pruned.position_embeddings.weight.offset
        );
        assert!(pruned.file_len < full.file_len);
        assert_eq!(pruned.tensor_count(), full.tensor_count() + 1);
        let v = config.vocab_size;
        for rows in [0, v + 1] {
            let got = Layout::new(
                &config,
                head,
                64,
                None,
                None,
                None,
                Some(rows),
                None,
                None,
                FloatType::F32,
                FloatType::F32,
            );
            assert_eq!(got, Err(LayoutError::BadWordRows { rows, vocab_size: v }));
        }
        assert_eq!(
            Layout::new(
                &config,
                HeadKind::MaskedLm,
                64,
                None,
                None,
                None,
                Some(3),
                None,
                None,
                FloatType::F32,
                FloatType::F32
            ),
            Err(LayoutError::PrunedTiedHead)
        );
    }

    #[test]
    fn absurd_sizes_are_errors_not_overflows() {
        let config = ElectraConfig { vocab_size: usize::MAX / 2, ..ElectraConfig::tiny() };
        assert_eq!(
            Layout::new(
                &config,
                HeadKind::MaskedLm,
                64,
                None,
                None,
                None,
                None,
                None,
                None,
                FloatType::F32,
                FloatType::F32
            ),
            Err(LayoutError::TooLarge)
        );
        let config = ElectraConfig { hidden_size: 1 << 20, num_attention_heads: 1, ..ElectraConfig::tiny() };
        assert!(matches!(
            Layout::new(
                &config,
                HeadKind::MaskedLm,
                64,
                None,
                None,
                None,
                None,
                None,
                None,
                FloatType::F32,
                FloatType::F32
            ),
            Err(LayoutError::DimensionTooLarge { field: "hidden_size", .. })
        ));
        let head = HeadKind::TokenClassification { num_labels: 0 };
        assert_eq!(
            Layout::new(
                &ElectraConfig::tiny(),
                head,
                64,
                None,
                None,
                None,
                None,
                None,
                None,
                FloatType::F32,
                FloatType::F32
            ),
            Err(LayoutError::NoLabels)
        );
    }
}
