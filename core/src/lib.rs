//! electra-core: ELECTRA for machines without a heap.
//!
//! Everything here is `no_std` and allocation-free: weights are borrowed slices (read in place from
//! flash or from a memory-mapped file), and every intermediate lives in scratch memory that the
//! caller passes in, sized by a function of the config and the sequence length. The one exception is
//! opt-in: `float::MatrixMultiply` (feature `matrixmultiply`, for hosts) takes `matrixmultiply`'s
//! packing buffers from the heap on every call. `tests/no_alloc.rs` runs the float path (with
//! `float::gemm::NaiveGemm`) and the int8 path under an allocator that counts every allocation: none.
//!
//! # On a microcontroller
//!
//! Open the model file in place, tokenize with the vocabulary it embeds, size the arena, run, read
//! the logits (what `firmware-example/app` does on every board):
//!
//! ```
//! use electra_core::{ArenaOptions, Model, RunOptions, SequenceInput};
//!
//! /// Every activation of one inference. In firmware a `static`, sized at build time by
//! /// `model.arena_bytes(MAX_SEQ_LEN, ArenaOptions::SMALLEST)`; 4-byte alignment is enough.
//! #[repr(C, align(64))]
//! struct Arena([u8; 32 * 1024]);
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (words, len) = tiny_sentiment_model()?;
//! # let model_file = &bytemuck::cast_slice::<u64, u8>(&words)[..len];
//! // In firmware: `static MODEL: &[u8] = electra_core::include_model_bytes!("model.elq");`
//! let model = Model::from_bytes(model_file)?;
//! let tokenizer = model.tokenizer().ok_or("the model file has no vocab (electra export --vocab)")?;
//!
//! // [CLS] the cat sat [SEP]
//! let special = tokenizer.special();
//! let mut ids = [0u32; 16];
//! ids[0] = special.cls;
//! let words = tokenizer.encode("The cat sat.", &mut ids[1..15])?;
//! ids[words + 1] = special.sep;
//! let ids = &ids[..words + 2];
//!
//! let mut arena = Arena([0; 32 * 1024]);
//! assert!(model.arena_bytes(ids.len(), ArenaOptions::SMALLEST) <= arena.0.len());
//! let logits = model.run(&SequenceInput::ids(ids), &mut arena.0, &RunOptions::default())?;
//!
//! // A sequence classifier: one row of one logit per label.
//! let scores = logits.row(0);
//! let best = (0..logits.cols).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
//! let label = model.labels().and_then(|labels| labels.label(best)).unwrap_or("?");
//! println!("{label} ({scores:?})");
//! # assert_eq!((logits.rows, logits.cols), (1, 2));
//! # assert!(label == "negative" || label == "positive");
//! # Ok(())
//! # }
//! #
//! # /// A two-layer sentiment classifier with made-up weights, its vocab and its labels: what
//! # /// `electra export` writes from a fine-tuned checkpoint, built here so that the example runs.
//! # /// The file in 8-byte aligned words, and its length in bytes.
//! # fn tiny_sentiment_model() -> Result<(Vec<u64>, usize), Box<dyn std::error::Error>> {
//! #     use electra_core::model_file::{model_file_len, write_model_file, FloatType, LabelsSpec, ModelFileSpec, ProblemType};
//! #     use electra_core::{ElectraConfig, HeadKind};
//! #     let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\n.\non\nmat\n";
//! #     let config = ElectraConfig {
//! #         vocab_size: 11,
//! #         embedding_size: 8,
//! #         hidden_size: 16,
//! #         num_hidden_layers: 2,
//! #         num_attention_heads: 2,
//! #         intermediate_size: 32,
//! #         max_position_embeddings: 16,
//! #         type_vocab_size: 2,
//! #         layer_norm_eps: 1e-12,
//! #         pad_token_id: 0,
//! #     };
//! #     let mut index = vec![0u32; electra_core::tokenizer::index_len(vocab)];
//! #     electra_core::tokenizer::build_index(vocab, &mut index)?;
//! #     let spec = ModelFileSpec {
//! #         config,
//! #         head: HeadKind::SequenceClassification { num_labels: 2 },
//! #         vocab: Some(&vocab[..]),
//! #         tokenizer_index: Some(&index),
//! #         labels: Some(LabelsSpec { names: &["negative", "positive"], problem_type: ProblemType::SingleLabelClassification }),
//! #         int4: None,
//! #         word_int4_group: None,
//! #         int4_scales: FloatType::F32,
//! #         biases_and_norms: FloatType::F32,
//! #     };
//! #     // Every tensor reads a prefix of one table of small made-up values.
//! #     let values: Vec<f32> = (0..4096u32).map(|i| ((i * 7919 % 61) as f32 - 30.0) / 100.0).collect();
//! #     let len = model_file_len::<core::convert::Infallible>(&spec)?;
//! #     let mut words = vec![0u64; len.div_ceil(8)];
//! #     let out = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..len];
//! #     let source = |_: &str, shape: &[usize]| Ok(&values[..shape.iter().product::<usize>()]);
//! #     write_model_file::<core::convert::Infallible>(&spec, source, out)?;
//! #     Ok((words, len))
//! # }
//! ```
//!
//! Modules:
//! - [`config`]: [`ElectraConfig`] with named presets and validation.
//! - [`float`]: the float32 encoder and heads, matching HF transformers.
//! - [`tokenizer`]: BERT-uncased WordPiece, exactly as HF tokenizers, on a borrowed vocabulary.
//! - [`model_file`]: the int8 model file, checked and read in place ([`model_file::Model`]).
//! - [`quant`]: the int8 encoder (`Model::run`) and its kernels.
//! - [`input`]: [`SequenceInput`] and the one check of it both forward passes make ([`InputError`]).
//! - [`math`]: `exp`, `erf`, GELU and the other scalar functions, defined once for every path (and the trainer).
//! - [`simd`]: the one run-time SIMD dispatch ([`multiversion!`]) of the float loops, the trainer's included.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Library code returns errors, never panics on user data; its unit tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod float;
pub mod input;
pub mod math;
pub mod model_file;
pub mod quant;
pub mod simd;
pub mod tokenizer;

#[cfg(test)]
extern crate std;

// What a firmware engineer calls, from the crate root (see the example above).
pub use config::{ConfigError, ElectraConfig, HeadKind};
pub use input::{InputError, SequenceInput};
pub use model_file::{Labels, Model, ModelFileError};
pub use quant::{ArenaOptions, Logits, RunError, RunOptions};
pub use tokenizer::{TokenizeError, Tokenizer, VocabError};
