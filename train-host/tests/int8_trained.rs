//! int8 on a discriminator the project pre-trains itself (not random weights): the tiny ELECTRA pair
//! trained on topic sequences (as in `pretrain_tiny.rs`) until its discriminator spots off-topic
//! replacements, exported to a model file, and run int8 against the float32 host encoder on held-out
//! corrupted sequences. The bars: RTD logits correlation ≥ 0.999 and the same
//! replaced/original decision on ≥ 99% of tokens.

mod common;

use common::correlation;
use common::topics::{batch_of, pretrain, tiny_pair, topic_example, topic_sequence, BATCH, STEPS, VOCAB};
use electra_core::model_file::{model_file_len, write_model_file, Model, ModelFileSpec};
use electra_core::{ArenaOptions, HeadKind, RunOptions, SequenceInput};
use electra_train::checkpoint::{HfCheckpoint, Tensor};
use electra_train::infer::{FloatModel, InputSeq, Logits};
use electra_train::objective::{ElectraPretraining, TrainRng};
use std::collections::BTreeMap;

/// The bars for a trained model.
const MIN_CORRELATION: f64 = 0.999;
const MIN_SAME_DECISION: f64 = 0.99;
/// The float discriminator must decide most held-out tokens right (it reaches 0.97), or comparing
/// int8 with it would say little about a trained model.
const MIN_FLOAT_ACCURACY: f64 = 0.9;

#[test]
fn pretrained_discriminator_int8_matches_float() {
    let (gen, disc) = tiny_pair();
    let mut rng = TrainRng::new(11);
    let mut model = ElectraPretraining::init(gen, disc, 12).unwrap();
    // Each step's batch drawn fresh from the RNG that also drives the masking.
    let history = pretrain(&mut model, &mut rng, |_, rng| {
        let examples: Vec<_> = (0..BATCH).map(|_| topic_example(rng)).collect();
        batch_of(&examples)
    });
    let last_accuracy: Vec<f32> = history[STEPS - 30..].iter().map(|s| s.rtd_accuracy).collect();

    // The discriminator as an HF checkpoint, and as an int8 model file.
    let tensors: BTreeMap<String, Tensor> =
        model.discriminator_tensors().into_iter().map(|(name, shape, data)| (name, Tensor { shape, data })).collect();
    let checkpoint = HfCheckpoint {
        dir: "pretrained-in-test".into(),
        config: disc,
        head: HeadKind::ReplacedTokenDetection,
        tensors,
    };
    let float = FloatModel::from_checkpoint(&checkpoint).unwrap();
    let spec = ModelFileSpec {
        config: disc,
        head: HeadKind::ReplacedTokenDetection,
        vocab: None,
        tokenizer_index: None,
        labels: None,
        int4: None,
        word_int4_group: None,
        int4_scales: electra_core::model_file::FloatType::F32,
        biases_and_norms: electra_core::model_file::FloatType::F32,
    };
    let mut file = vec![0u32; model_file_len::<String>(&spec).unwrap().div_ceil(4)];
    let len = model_file_len::<String>(&spec).unwrap();
    let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut file)[..len];
    write_model_file(&spec, |name, shape| checkpoint.get(name, shape).map_err(|e| e.to_string()), bytes).unwrap();
    let int8 = Model::from_bytes(&bytemuck::cast_slice::<u32, u8>(&file)[..len]).unwrap();

    // Held-out sequences with 15% of the words replaced by random (mostly off-topic) ones.
    let (mut a, mut b, mut replaced, mut float_right) = (Vec::new(), Vec::new(), 0usize, 0usize);
    for _ in 0..200 {
        let mut ids = topic_sequence(&mut rng);
        let original = ids.clone();
        for id in ids[1..original.len() - 1].iter_mut() {
            if rng.below(100) < 15 {
                *id = (8 + rng.below(VOCAB - 8)) as u32;
            }
        }
        let mut arena = vec![0u32; int8.arena_bytes(ids.len(), ArenaOptions::SMALLEST).div_ceil(4)];
        let input = SequenceInput::ids(&ids);
        let q = int8.run(&input, bytemuck::cast_slice_mut(&mut arena), &RunOptions::default()).unwrap().values.to_vec();
        let Logits::ReplacedToken(f) = float.logits(&[InputSeq::ids(ids.clone())]).unwrap().remove(0) else {
            panic!("RTD head")
        };
        for (i, (&qi, &fi)) in q.iter().zip(&f).enumerate().skip(1).take(ids.len() - 2) {
            let is_replaced = ids[i] != original[i];
            replaced += usize::from(is_replaced);
            float_right += usize::from((fi > 0.0) == is_replaced);
            a.push(qi as f64);
            b.push(fi as f64);
        }
    }
    let r = correlation(&a, &b);
    let same = a.iter().zip(&b).filter(|(x, y)| (**x > 0.0) == (**y > 0.0)).count() as f64 / a.len() as f64;
    let accuracy: f32 = last_accuracy.iter().sum::<f32>() / last_accuracy.len() as f32;
    println!(
        "pre-trained tiny discriminator ({STEPS} steps, training RTD accuracy {accuracy:.3}); {} held-out word tokens, \
         {replaced} replaced; float32 decides right on {:.3}",
        a.len(),
        float_right as f64 / a.len() as f64
    );
    println!("  int8 vs float32: RTD logits correlation {r:.6}, same replaced/original decision on {:.4}", same);
    assert!(
        float_right as f64 / a.len() as f64 > MIN_FLOAT_ACCURACY,
        "the discriminator did not learn; the comparison would mean little"
    );
    assert!(r >= MIN_CORRELATION, "correlation {r}");
    assert!(same >= MIN_SAME_DECISION, "same decision on {same}");
}
