//! Whole-model checks that need no reference data: layout consistency, typed errors, padding
//! semantics, and agreement between the real GEMM and the naive twin. Parity with HF transformers
//! lives in `tests/tests/float_parity.rs`.

extern crate std;
use std::vec;
use std::vec::Vec;

use super::gemm::NaiveGemm;
use super::linear::WeightLayout;
use super::*;
use crate::config::{ElectraConfig, HeadKind};
use crate::input::InputError;

/// A small config with every dimension distinct, so a swapped dimension cannot go unnoticed.
fn small_config() -> ElectraConfig {
    ElectraConfig {
        vocab_size: 50,
        embedding_size: 8,
        hidden_size: 12,
        num_hidden_layers: 2,
        num_attention_heads: 3,
        intermediate_size: 20,
        max_position_embeddings: 16,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        pad_token_id: 0,
    }
}

const HEADS: [HeadKind; 4] = [
    HeadKind::ReplacedTokenDetection,
    HeadKind::MaskedLm,
    HeadKind::SequenceClassification { num_labels: 3 },
    HeadKind::TokenClassification { num_labels: 5 },
];

/// Deterministic weights in [-0.5, 0.5) (xorshift32), like a random init with std ≈ 0.3.
fn random_params(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

fn run(
    gemm: &dyn Gemm,
    config: &ElectraConfig,
    head: HeadKind,
    params: &[f32],
    input: &SequenceInput<'_>,
) -> Result<Vec<f32>, FloatError> {
    let weights = ElectraWeights::new(config, head, params)?;
    let tokens = input.input_ids.len();
    let mut scratch = vec![f32::NAN; scratch_len(config, head, tokens)];
    let mut logits = vec![f32::NAN; logits_len(config, head, tokens)];
    forward(gemm, &weights, input, &mut scratch, &mut logits)?;
    Ok(logits)
}

const IDS: [u32; 7] = [2, 17, 5, 49, 33, 8, 3];
const TYPES: [u32; 7] = [0, 0, 0, 0, 1, 1, 1];

#[test]
fn layout_lists_every_tensor_contiguously_and_views_agree() {
    for head in HEADS {
        for config in [small_config(), ElectraConfig { embedding_size: 12, ..small_config() }] {
            let layout = ParamLayout::new(&config, head).unwrap();
            let params: Vec<f32> = (0..layout.len()).map(|i| i as f32).collect();
            let weights = ElectraWeights::new(&config, head, &params).unwrap();
            let mut next = 0;
            let mut names = Vec::new();
            layout
                .for_each_tensor(|t| {
                    assert_eq!(t.offset, next, "{} is not contiguous", t.name);
                    next += t.len();
                    names.push((std::string::String::from(t.name), t.offset, t.len()));
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert_eq!(next, layout.len());
            // Every view must start at the offset the name table gives (the blob holds its own indices).
            let at = |name: &str| names.iter().find(|(n, _, _)| n == name).map(|&(_, o, l)| (o as f32, l));
            let view = |s: &[f32]| (s[0], s.len());
            let emb = weights.embeddings();
            assert_eq!(Some(view(emb.word_embeddings)), at("electra.embeddings.word_embeddings.weight"));
            assert_eq!(Some(view(emb.token_type_embeddings)), at("electra.embeddings.token_type_embeddings.weight"));
            assert_eq!(Some(view(emb.layer_norm.bias)), at("electra.embeddings.LayerNorm.bias"));
            assert_eq!(weights.embeddings_project().map(|p| view(p.weight)), at("electra.embeddings_project.weight"));
            let last = weights.layer(1).unwrap();
            let p = "electra.encoder.layer.1.";
            let name = |tail: &str| std::format!("{p}{tail}");
            assert_eq!(Some(view(last.attention.query.weight)), at(&name("attention.self.query.weight")));
            assert_eq!(Some(view(last.attention.value.bias)), at(&name("attention.self.value.bias")));
            assert_eq!(
                Some(view(last.attention.output_layer_norm.weight)),
                at(&name("attention.output.LayerNorm.weight"))
            );
            assert_eq!(Some(view(last.feed_forward.intermediate_dense.weight)), at(&name("intermediate.dense.weight")));
            assert_eq!(Some(view(last.feed_forward.output_dense.bias)), at(&name("output.dense.bias")));
            assert_eq!(Some(view(last.feed_forward.output_layer_norm.bias)), at(&name("output.LayerNorm.bias")));
            assert!(weights.layer(2).is_none());
            match weights.head() {
                HeadWeights::ReplacedTokenDetection(w) => assert_eq!(
                    Some(view(w.dense_prediction.weight)),
                    at("discriminator_predictions.dense_prediction.weight")
                ),
                HeadWeights::MaskedLm(w) => {
                    assert_eq!(Some(view(w.lm_bias)), at("generator_lm_head.bias"));
                    // Tied: the output matrix is the word embedding table itself.
                    assert_eq!(w.word_embeddings.as_ptr(), emb.word_embeddings.as_ptr());
                    assert!(at("generator_lm_head.weight").is_none());
                }
                HeadWeights::SequenceClassification(w) => {
                    assert_eq!(Some(view(w.out_proj.weight)), at("classifier.out_proj.weight"))
                }
                HeadWeights::TokenClassification(w) => {
                    assert_eq!(Some(view(w.classifier.bias)), at("classifier.bias"))
                }
            }
        }
    }
}

#[test]
fn every_head_runs_and_the_naive_gemm_twin_agrees() {
    // Same arithmetic up to summation order: values of order 1, sums of ≤ 20 products.
    const TWIN_TOLERANCE: f32 = 1e-4;
    for head in HEADS {
        for config in [small_config(), ElectraConfig { embedding_size: 12, ..small_config() }] {
            let params = random_params(ParamLayout::new(&config, head).unwrap().len(), 7);
            let input = SequenceInput { input_ids: &IDS, token_type_ids: Some(&TYPES), attention_mask: None };
            let fast = run(&MatrixMultiply, &config, head, &params, &input).unwrap();
            let naive = run(&NaiveGemm, &config, head, &params, &input).unwrap();
            assert!(fast.iter().all(|v| v.is_finite()));
            let worst = fast.iter().zip(&naive).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < TWIN_TOLERANCE, "{head:?}: {worst}");
        }
    }
}

#[test]
fn transposed_linear_layout_gives_the_same_logits() {
    // Same products, GEMM reads W in another order: only summation-order rounding differs.
    const LAYOUT_TOLERANCE: f32 = 1e-5;
    for head in HEADS {
        let config = small_config();
        let hf_layout = ParamLayout::new(&config, head).unwrap();
        let params = random_params(hf_layout.len(), 13);
        let mut transposed = vec![f32::NAN; params.len()];
        hf_layout.relayout(&params, WeightLayout::InOut, &mut transposed).unwrap();
        let in_out = hf_layout.with_linear_layout(WeightLayout::InOut);
        // Query weight [H, H] is transposed, the word embedding table is not.
        let mut query = None;
        in_out
            .for_each_tensor(|t| {
                if t.name == "electra.encoder.layer.0.attention.self.query.weight" {
                    query = Some(t.offset);
                }
                assert_eq!(t.stored_transposed, t.linear_weight);
                assert_eq!(t.linear_weight, t.shape.len() == 2 && !t.name.starts_with("electra.embeddings."));
                Ok::<(), ()>(())
            })
            .unwrap();
        let q = query.unwrap();
        assert_eq!(transposed[q + 1], params[q + 12], "row 0, col 1 of Wᵀ is row 1, col 0 of W");
        assert_eq!(&transposed[..50 * 8], &params[..50 * 8]);
        // And back again.
        let mut round_trip = vec![f32::NAN; params.len()];
        in_out.relayout(&transposed, WeightLayout::OutIn, &mut round_trip).unwrap();
        assert_eq!(round_trip, params);

        let input = SequenceInput { input_ids: &IDS, token_type_ids: Some(&TYPES), attention_mask: None };
        let want = run(&MatrixMultiply, &config, head, &params, &input).unwrap();
        let weights = ElectraWeights::from_layout(in_out, &transposed).unwrap();
        let mut scratch = vec![0.0; scratch_len(&config, head, IDS.len())];
        let mut got = vec![0.0; want.len()];
        forward(&MatrixMultiply, &weights, &input, &mut scratch, &mut got).unwrap();
        let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < LAYOUT_TOLERANCE, "{head:?}: {worst}");
    }
}

#[test]
fn padding_with_mask_zero_leaves_real_positions_unchanged() {
    // Masked keys get f32::MIN added, so their softmax weight is exactly 0: real positions must agree
    // to rounding (summation order over the longer rows may differ).
    const PADDING_TOLERANCE: f32 = 1e-5;
    let config = small_config();
    let head = HeadKind::TokenClassification { num_labels: 5 };
    let params = random_params(ParamLayout::new(&config, head).unwrap().len(), 11);
    let short = run(&MatrixMultiply, &config, head, &params, &SequenceInput::ids(&IDS)).unwrap();

    let mut padded_ids = IDS.to_vec();
    padded_ids.extend([0, 0, 0, 44]);
    let mut mask = vec![1u8; IDS.len()];
    mask.extend([0, 0, 0, 0]);
    let masked = SequenceInput { input_ids: &padded_ids, token_type_ids: None, attention_mask: Some(&mask) };
    let padded = run(&MatrixMultiply, &config, head, &params, &masked).unwrap();
    let real = &padded[..short.len()];
    let worst = short.iter().zip(real).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < PADDING_TOLERANCE, "{worst}");

    // Without the mask the padding is attended to and the outputs move: the check above can fail.
    let unmasked = run(&MatrixMultiply, &config, head, &params, &SequenceInput::ids(&padded_ids)).unwrap();
    let moved = short.iter().zip(&unmasked).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(moved > 1e-3, "{moved}");
}

#[test]
fn token_types_and_positions_matter() {
    let config = small_config();
    let head = HeadKind::ReplacedTokenDetection;
    let params = random_params(ParamLayout::new(&config, head).unwrap().len(), 3);
    let plain = run(&MatrixMultiply, &config, head, &params, &SequenceInput::ids(&IDS)).unwrap();
    let typed = SequenceInput { input_ids: &IDS, token_type_ids: Some(&TYPES), attention_mask: None };
    let with_types = run(&MatrixMultiply, &config, head, &params, &typed).unwrap();
    assert_ne!(plain, with_types);
    let zeros = [0u32; 7];
    let explicit_zero = SequenceInput { input_ids: &IDS, token_type_ids: Some(&zeros), attention_mask: Some(&[1; 7]) };
    assert_eq!(plain, run(&MatrixMultiply, &config, head, &params, &explicit_zero).unwrap());
    // The same token at two positions gets two different logits.
    let same = run(&MatrixMultiply, &config, head, &params, &SequenceInput::ids(&[9, 9])).unwrap();
    assert_ne!(same[0], same[1]);
}

#[test]
fn bad_inputs_get_typed_errors_and_leave_logits_alone() {
    let config = small_config();
    let head = HeadKind::ReplacedTokenDetection;
    let layout = ParamLayout::new(&config, head).unwrap();
    let params = random_params(layout.len(), 5);
    let weights = ElectraWeights::new(&config, head, &params).unwrap();
    let try_run = |input: SequenceInput<'_>, scratch_len_: usize, logits_len_: usize| {
        let mut scratch = vec![0.0; scratch_len_];
        let mut logits = vec![-7.0; logits_len_];
        let result = forward(&MatrixMultiply, &weights, &input, &mut scratch, &mut logits);
        assert!(result.is_ok() || logits.iter().all(|&v| v == -7.0), "logits written despite an error");
        result
    };
    let ok_scratch = scratch_len(&config, head, 7);
    assert_eq!(try_run(SequenceInput::ids(&IDS), ok_scratch, 7), Ok(()));
    assert_eq!(
        try_run(SequenceInput::ids(&IDS), ok_scratch - 1, 7),
        Err(FloatError::ScratchTooSmall { needed: ok_scratch, given: ok_scratch - 1 })
    );
    assert_eq!(
        try_run(SequenceInput::ids(&IDS), ok_scratch, 6),
        Err(FloatError::LogitsLength { expected: 7, found: 6 })
    );
    assert_eq!(try_run(SequenceInput::ids(&[]), 0, 0), Err(FloatError::Input(InputError::EmptySequence)));
    assert_eq!(
        try_run(SequenceInput::ids(&[1, 50]), ok_scratch, 2),
        Err(FloatError::Input(InputError::IdOutOfVocab { position: 1, id: 50, vocab_size: 50 }))
    );
    let long = [1u32; 17];
    assert_eq!(
        try_run(SequenceInput::ids(&long), scratch_len(&config, head, 17), 17),
        Err(FloatError::Input(InputError::SequenceTooLong { len: 17, max_positions: 16 }))
    );
    let types = [0, 2];
    let bad_type = SequenceInput { input_ids: &[1, 1], token_type_ids: Some(&types), attention_mask: None };
    assert_eq!(
        try_run(bad_type, ok_scratch, 2),
        Err(FloatError::Input(InputError::TokenTypeOutOfRange { position: 1, token_type: 2, type_vocab_size: 2 }))
    );
    let short_mask = SequenceInput { input_ids: &[1, 1], token_type_ids: None, attention_mask: Some(&[1]) };
    assert_eq!(
        try_run(short_mask, ok_scratch, 2),
        Err(FloatError::Input(InputError::LengthMismatch { what: "attention_mask", expected: 2, found: 1 }))
    );
    let bad_mask = SequenceInput { input_ids: &[1, 1], token_type_ids: None, attention_mask: Some(&[1, 3]) };
    assert_eq!(
        try_run(bad_mask, ok_scratch, 2),
        Err(FloatError::Input(InputError::BadMaskValue { position: 1, value: 3 }))
    );

    assert_eq!(
        ElectraWeights::new(&config, head, &params[1..]).err(),
        Some(FloatError::ParamsLength { expected: layout.len(), found: layout.len() - 1 })
    );
    assert_eq!(
        ParamLayout::new(&config, HeadKind::TokenClassification { num_labels: 0 }).err(),
        Some(FloatError::NoLabels)
    );
    let huge = ElectraConfig { vocab_size: usize::MAX / 2, ..config };
    assert_eq!(ParamLayout::new(&huge, head).err(), Some(FloatError::TooLarge));
}

#[test]
fn errors_read_well() {
    let e = FloatError::Input(InputError::IdOutOfVocab { position: 3, id: 30522, vocab_size: 30522 });
    assert_eq!(std::format!("{e}"), "token id 30522 at position 3 is outside the vocab of 30522");
}
