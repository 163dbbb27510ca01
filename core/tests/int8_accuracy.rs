//! int8 against float32 on ELECTRA-Small with HF's initialization, printed; plus the properties of
//! `run` that the firmware relies on (exact arena size, same bits for any arena or worker count).

mod common;

use common::{arena, correlation, random_ids, HfModel, Init, Reference, Rng, Sim};
use electra_core::quant::Parallel;
use electra_core::{ArenaOptions, ElectraConfig, HeadKind, InputError, Model, RunError, RunOptions, SequenceInput};
use std::collections::BTreeMap;

/// The bar for replaced-token-detection logits, int8 against float.
const MIN_RTD_CORRELATION: f64 = 0.999;

/// Runs tasks one after another but tells the encoder there are `n` workers, so the split into
/// tasks (and the per-worker arena) is exercised without threads.
struct SplitSequential(usize);

impl Parallel for SplitSequential {
    fn workers(&self) -> usize {
        self.0
    }
    fn for_each<I: Send>(&self, items: &mut [I], task: &(dyn Fn(&mut I) + Sync)) {
        items.iter_mut().rev().for_each(task)
    }
}

fn run_int8(model: &Model, ids: &[u32], types: &[u32], arena_len: usize) -> Vec<f32> {
    let mut a = arena(arena_len);
    let bytes: &mut [u8] = &mut bytemuck::cast_slice_mut(&mut a)[..arena_len];
    let input = SequenceInput::ids(ids).with_token_types(types);
    model.run(&input, bytes, &RunOptions::default()).unwrap().values.to_vec()
}

#[test]
fn electra_small_rtd_int8_matches_float() {
    let config = ElectraConfig::small();
    let hf = HfModel::random(config, HeadKind::ReplacedTokenDetection, Init { std: 0.02, random_affine: false }, 2024);
    let file = hf.model_file(None);
    let model = Model::from_bytes(file.bytes()).unwrap();
    let mut rng = Rng(77);
    let t = 128;
    let ids = random_ids(&mut rng, t, config.vocab_size);
    let types: Vec<u32> = (0..t as u32).map(|i| u32::from(i >= 64)).collect();

    let int8 = run_int8(&model, &ids, &types, model.arena_bytes(t, ArenaOptions::SMALLEST));
    let float = Reference::new(&hf, Sim::Float).forward(&ids, &types);
    let simulated = Reference::new(&hf, Sim::DynamicPerRow).forward(&ids, &types);

    // Static calibration, for comparison: per-layer input ranges from 8 other sequences.
    let mut calibrate = Reference::new(&hf, Sim::Calibrate);
    for _ in 0..8 {
        let cal_ids = random_ids(&mut rng, t, config.vocab_size);
        calibrate.forward(&cal_ids, &types);
    }
    let table: BTreeMap<String, f32> = calibrate.calibration;
    let calibrated = Reference::new(&hf, Sim::Calibrated(&table)).forward(&ids, &types);

    let r_int8 = correlation(&int8, &float);
    println!(
        "ELECTRA-Small RTD, HF init (std 0.02), T = {t}: file {} bytes, arena_bytes({t}) = {} bytes",
        file.bytes().len(),
        model.arena_bytes(t, ArenaOptions::SMALLEST)
    );
    println!("  int8 engine (dynamic per-row activations) vs float32: correlation {r_int8:.6}");
    println!(
        "  simulated dynamic per-row int8 vs float32:            correlation {:.6}",
        correlation(&simulated, &float)
    );
    println!(
        "  simulated static calibrated int8 vs float32:          correlation {:.6}",
        correlation(&calibrated, &float)
    );
    assert!(r_int8 >= MIN_RTD_CORRELATION, "correlation {r_int8}");
}

/// int4 encoder weights (every encoder linear, groups of 32/64/128) on the same model: the engine
/// must track its own simulation in float (int4 groups, int8 rows) as closely as the int8 engine
/// tracks float, whatever the group size: a wrong group, nibble or scale index would not. Against
/// float the correlation is printed (random weights are no measure of task accuracy; see
/// docs/BENCHMARKS.md for SST-2).
#[test]
fn electra_small_rtd_int4_matches_its_simulation() {
    use electra_core::model_file::Int4Tensors;
    let config = ElectraConfig::small();
    let hf = HfModel::random(config, HeadKind::ReplacedTokenDetection, Init { std: 0.02, random_affine: false }, 2024);
    let mut rng = Rng(77);
    let t = 64;
    let ids = random_ids(&mut rng, t, config.vocab_size);
    let types = vec![0u32; t];
    let float = Reference::new(&hf, Sim::Float).forward(&ids, &types);
    for group in [32, 64, 128] {
        let int4 = Int4Tensors::all(group as u32).for_layers(config.num_hidden_layers);
        let file = hf.model_file_int4(None, None, Some(int4));
        let model = Model::from_bytes(file.bytes()).unwrap();
        let engine = run_int8(&model, &ids, &types, model.arena_bytes(t, ArenaOptions::SMALLEST));
        let simulated = Reference::new(&hf, Sim::DynamicPerRowInt4(group)).forward(&ids, &types);
        let (r_sim, r_float) = (correlation(&engine, &simulated), correlation(&engine, &float));
        println!(
            "ELECTRA-Small RTD int4 g{group}: file {} bytes; engine vs its simulation {r_sim:.6}, vs float32 {r_float:.6}",
            file.bytes().len()
        );
        assert!(r_sim >= MIN_RTD_CORRELATION, "group {group}: correlation with the simulation {r_sim}");
    }
}

/// Every head on a small model: with HF's initialization the int8 logits must track float as
/// closely as ELECTRA-Small's (a wiring mistake in any head gives a correlation near 0); with harsh
/// random weights (std 0.2 and random LayerNorm/biases, like the HF tiny fixtures) the numbers are
/// printed and must stay clearly correlated.
#[test]
fn every_head_tracks_float() {
    /// Harsh weights: large activation outliers make per-row int8 lossy; this only catches gross
    /// errors. The tiny-fixture test in train-host checks argmax agreement on such weights.
    const MIN_HARSH_CORRELATION: f64 = 0.95;
    let config = ElectraConfig { vocab_size: 300, max_position_embeddings: 40, ..ElectraConfig::tiny() };
    let heads = [
        HeadKind::ReplacedTokenDetection,
        HeadKind::MaskedLm,
        HeadKind::SequenceClassification { num_labels: 3 },
        HeadKind::TokenClassification { num_labels: 5 },
    ];
    for (k, head) in heads.into_iter().enumerate() {
        for (init, bar) in [
            (Init { std: 0.02, random_affine: false }, MIN_RTD_CORRELATION),
            (Init { std: 0.2, random_affine: true }, MIN_HARSH_CORRELATION),
        ] {
            let hf = HfModel::random(config, head, init, 5 + k as u64);
            let file = hf.model_file(None);
            let model = Model::from_bytes(file.bytes()).unwrap();
            let mut rng = Rng(k as u64);
            let t = 33;
            let ids = random_ids(&mut rng, t, config.vocab_size);
            let types = vec![0u32; t];
            let int8 = run_int8(&model, &ids, &types, model.arena_bytes(t, ArenaOptions::SMALLEST));
            let float = Reference::new(&hf, Sim::Float).forward(&ids, &types);
            // Sequence classification has only C logits: compare over 8 sequences.
            let (mut a, mut b) = (int8, float);
            if matches!(head, HeadKind::SequenceClassification { .. }) {
                for _ in 0..7 {
                    let ids = random_ids(&mut rng, t, config.vocab_size);
                    a.extend(run_int8(&model, &ids, &types, model.arena_bytes(t, ArenaOptions::SMALLEST)));
                    b.extend(Reference::new(&hf, Sim::Float).forward(&ids, &types));
                }
            }
            let r = correlation(&a, &b);
            println!("{head:?}, init std {}: int8 vs float correlation {r:.6}", init.std);
            assert!(r >= bar, "{head:?} std {}: {r}", init.std);
        }
    }
}

#[test]
fn same_bits_for_every_arena_and_worker_count_and_exact_arena() {
    let config = ElectraConfig { vocab_size: 200, max_position_embeddings: 64, ..ElectraConfig::tiny() };
    for head in
        [HeadKind::ReplacedTokenDetection, HeadKind::MaskedLm, HeadKind::SequenceClassification { num_labels: 2 }]
    {
        let hf = HfModel::random(config, head, Init { std: 0.1, random_affine: true }, 3);
        let file = hf.model_file(None);
        let model = Model::from_bytes(file.bytes()).unwrap();
        let t = 37;
        let ids = random_ids(&mut Rng(9), t, config.vocab_size);
        let types: Vec<u32> = (0..t as u32).map(|i| i % 2).collect();

        let exact = model.arena_bytes(t, ArenaOptions::SMALLEST);
        let reference = run_int8(&model, &ids, &types, exact);
        for rows in [2, 3, 4, 16, 64] {
            for cache_quantized_hidden in [false, true] {
                let options = ArenaOptions { rows_per_block: rows, workers: 1, cache_quantized_hidden };
                let len = model.arena_bytes(t, options);
                assert_eq!(run_int8(&model, &ids, &types, len), reference, "{head:?}, {options:?}");
            }
        }
        for workers in [2, 3, 5] {
            let len = model.arena_bytes(t, ArenaOptions::fast(workers));
            let mut a = arena(len);
            let input = SequenceInput::ids(&ids).with_token_types(&types);
            let split = SplitSequential(workers);
            let got = model.run(&input, bytemuck::cast_slice_mut(&mut a), &RunOptions::default().parallel(&split));
            assert_eq!(got.unwrap().values, &reference[..], "{head:?}, {workers} workers");
        }

        // Exactly arena_bytes works (above); one byte less does not.
        let mut a = arena(exact);
        let short = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut a)[..exact - 1];
        let input = SequenceInput::ids(&ids).with_token_types(&types);
        let run = model.run(&input, short, &RunOptions::default());
        assert!(matches!(run, Err(RunError::ArenaTooSmall { .. })));
    }
}

#[test]
fn same_bits_for_every_simd_copy_of_the_float_loops() {
    // The baseline, AVX2 and AVX-512 copies of LayerNorm, softmax, GELU, quantization and the
    // epilogues (those this CPU runs; other tests in this binary may run meanwhile with any of
    // them, which this very test shows does not matter).
    let config = ElectraConfig { vocab_size: 200, max_position_embeddings: 64, ..ElectraConfig::tiny() };
    let hf = HfModel::random(config, HeadKind::MaskedLm, Init { std: 0.1, random_affine: true }, 5);
    let file = hf.model_file(None);
    let model = Model::from_bytes(file.bytes()).unwrap();
    let t = 45;
    let ids = random_ids(&mut Rng(4), t, config.vocab_size);
    let types = vec![0; t];
    let len = model.arena_bytes(t, ArenaOptions::fast(1));
    let mut outputs = Vec::new();
    for tier in [1, 2, 3] {
        electra_core::simd::force_tier(tier);
        assert!(tier >= 2 || !electra_core::simd::avx2(), "tier {tier} not forced");
        assert!(tier >= 3 || !electra_core::simd::avx512(), "tier {tier} not forced");
        outputs.push(run_int8(&model, &ids, &types, len));
    }
    electra_core::simd::force_tier(0);
    assert_eq!(outputs[0], outputs[1], "baseline vs AVX2");
    assert_eq!(outputs[0], outputs[2], "baseline vs AVX-512");
}

/// Trailing padding masked out leaves the real tokens' logits exactly as without it.
#[test]
fn attention_mask_hides_padding() {
    let config = ElectraConfig { vocab_size: 200, max_position_embeddings: 64, ..ElectraConfig::tiny() };
    let hf = HfModel::random(
        config,
        HeadKind::TokenClassification { num_labels: 3 },
        Init { std: 0.1, random_affine: true },
        8,
    );
    let file = hf.model_file(None);
    let model = Model::from_bytes(file.bytes()).unwrap();
    let ids = random_ids(&mut Rng(4), 20, config.vocab_size);
    let alone = run_int8(&model, &ids[..13], &[0; 13], model.arena_bytes(13, ArenaOptions::SMALLEST));
    let mask: Vec<u8> = (0..20).map(|i| u8::from(i < 13)).collect();
    let mut a = arena(model.arena_bytes(20, ArenaOptions::fast(1)));
    let seq = RunOptions::default();
    let masked = SequenceInput::ids(&ids).with_attention_mask(&mask);
    let padded = model.run(&masked, bytemuck::cast_slice_mut(&mut a), &seq).unwrap();
    assert_eq!(&padded.values[..13 * 3], &alone[..]);
    let mut a = arena(model.arena_bytes(20, ArenaOptions::SMALLEST));
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    assert_eq!(
        model.run(&SequenceInput::ids(&ids).with_attention_mask(&mask[..5]), &mut *bytes, &seq).unwrap_err(),
        RunError::Input(InputError::LengthMismatch { what: "attention_mask", expected: 20, found: 5 })
    );
    let mut two = mask.clone();
    two[3] = 2;
    assert_eq!(
        model.run(&SequenceInput::ids(&ids).with_attention_mask(&two), bytes, &seq).unwrap_err(),
        RunError::Input(InputError::BadMaskValue { position: 3, value: 2 })
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let config = ElectraConfig { vocab_size: 50, max_position_embeddings: 16, ..ElectraConfig::tiny() };
    let hf = HfModel::random(config, HeadKind::ReplacedTokenDetection, Init { std: 0.02, random_affine: false }, 1);
    let file = hf.model_file(None);
    let model = Model::from_bytes(file.bytes()).unwrap();
    let mut a = arena(model.arena_bytes(16, ArenaOptions::SMALLEST) + 64);
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut a);
    let one = RunOptions::default();
    let run = |input: SequenceInput, buf: &mut [u8]| model.run(&input, buf, &one).map(|_| ());
    let ids = SequenceInput::ids;
    assert_eq!(run(ids(&[]), buf).unwrap_err(), RunError::Input(InputError::EmptySequence));
    assert_eq!(
        run(ids(&[1; 17]), buf).unwrap_err(),
        RunError::Input(InputError::SequenceTooLong { len: 17, max_positions: 16 })
    );
    assert_eq!(
        run(ids(&[1, 2, 50]), buf).unwrap_err(),
        RunError::Input(InputError::IdOutOfVocab { position: 2, id: 50, vocab_size: 50 })
    );
    assert_eq!(
        run(ids(&[1, 2]).with_token_types(&[0, 2]), buf).unwrap_err(),
        RunError::Input(InputError::TokenTypeOutOfRange { position: 1, token_type: 2, type_vocab_size: 2 })
    );
    assert_eq!(
        run(ids(&[1, 2]).with_token_types(&[0]), buf).unwrap_err(),
        RunError::Input(InputError::LengthMismatch { what: "token_type_ids", expected: 2, found: 1 })
    );
    assert!(matches!(run(ids(&[1, 2]), &mut buf[1..]).unwrap_err(), RunError::ArenaMisaligned { .. }));
    assert!(matches!(run(ids(&[1, 2]), &mut buf[..64]).unwrap_err(), RunError::ArenaTooSmall { .. }));
}

/// Pre-packed weights change nothing but speed: the same logits, bit for bit, for shapes whose
/// heads start on and off the packed kernel's 16-column vectors and 4-byte groups, past one
/// block of `k` (H = 320), with and without padding, in any plan; packed buffers are checked.
#[test]
fn prepacked_weights_give_the_same_bits() {
    let small = |hidden_size, num_attention_heads, intermediate_size| ElectraConfig {
        vocab_size: 200,
        max_position_embeddings: 64,
        hidden_size,
        num_attention_heads,
        intermediate_size,
        ..ElectraConfig::tiny()
    };
    let configs = [small(64, 4, 128), small(80, 2, 300), small(320, 5, 640)];
    for (c, config) in configs.into_iter().enumerate() {
        for head in [HeadKind::ReplacedTokenDetection, HeadKind::MaskedLm] {
            let hf = HfModel::random(config, head, Init { std: 0.1, random_affine: true }, 5 + c as u64);
            let file = hf.model_file(None);
            let model = Model::from_bytes(file.bytes()).unwrap();
            let needed = model.packed_weights_bytes();
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw") {
                assert!(needed > 0, "AVX-512 VNNI machine but nothing to pack");
            }
            if needed == 0 {
                println!("no packed kernel on this CPU: pack_weights is a no-op here");
            }
            let mut buf = vec![0u8; needed + 3];
            // Any alignment of the caller's buffer.
            model.pack_weights(&mut buf[3..]).unwrap();
            let packed = model.packed_weights(&buf[3..]).unwrap();
            assert_eq!(packed.is_some(), needed > 0);
            for t in [7, 37, 64] {
                let ids = random_ids(&mut Rng(t as u64), t, config.vocab_size);
                let mask: Vec<u8> = (0..t).map(|i| u8::from(i < t - 2)).collect();
                for options in [ArenaOptions::fast(1), ArenaOptions { rows_per_block: 16, ..ArenaOptions::fast(1) }] {
                    let len = model.arena_bytes(t, options);
                    let (mut a, mut b) = (arena(len), arena(len));
                    let (a, b) = (bytemuck::cast_slice_mut(&mut a), bytemuck::cast_slice_mut(&mut b));
                    let seq = SplitSequential(1);
                    let input = SequenceInput::ids(&ids).with_attention_mask(&mask);
                    let plain = model.run(&input, a, &RunOptions::default().parallel(&seq)).unwrap();
                    let with_packed = RunOptions::default().parallel(&seq).packed(packed.as_ref());
                    let fast = model.run(&input, b, &with_packed).unwrap();
                    assert_eq!(plain.values, fast.values, "config {c}, {head:?}, t {t}, {options:?}");
                }
            }
            if needed > 0 {
                assert!(matches!(
                    model.pack_weights(&mut vec![0u8; needed - 1]),
                    Err(RunError::PackedBufferTooSmall { .. })
                ));
                assert!(matches!(
                    model.packed_weights(&buf[3..needed + 2]),
                    Err(RunError::PackedBufferTooSmall { .. })
                ));
                // A copy of the model at another address: the trailer names the packed one.
                let copy = common::AlignedBytes::from(file.bytes());
                let other = Model::from_bytes(copy.bytes()).unwrap();
                assert_eq!(other.packed_weights(&buf[3..]).unwrap_err(), RunError::PackedForAnotherModel);
                let mut a = arena(other.arena_bytes(7, ArenaOptions::SMALLEST));
                let split = SplitSequential(1);
                let options = RunOptions::default().parallel(&split).packed(packed.as_ref());
                let run = other.run(&SequenceInput::ids(&[1; 7]), bytemuck::cast_slice_mut(&mut a), &options);
                assert_eq!(run.unwrap_err(), RunError::PackedForAnotherModel);
            }
        }
    }
}
