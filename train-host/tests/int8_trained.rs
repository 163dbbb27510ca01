//! int8 on a discriminator the project pre-trains itself (not random weights): the tiny ELECTRA pair
//! trained on topic sequences (as in `pretrain_tiny.rs`) until its discriminator spots off-topic
//! replacements, exported to a model file, and run int8 against the float32 host encoder on held-out
//! corrupted sequences. The bars: RTD logits correlation ≥ 0.999 and the same
//! replaced/original decision on ≥ 99% of tokens.

use electra_core::model_file::{model_file_len, write_model_file, Model, ModelFileSpec};
use electra_core::{ElectraConfig, HeadKind};
use electra_train::checkpoint::{HfCheckpoint, Tensor};
use electra_train::infer::{FloatModel, InputSeq, Logits};
use electra_train::objective::{Batch, ElectraPretraining, ObjectiveOptions, TrainRng};
use electra_train::optim::{AdamW, AdamWConfig, LinearSchedule};
use std::collections::BTreeMap;

const VOCAB: usize = 128;
const SEQ_LEN: usize = 32;
const BATCH: usize = 8;
const STEPS: usize = 600;
const TOPICS: usize = 30;
const TOPIC_WORDS: usize = 4;
/// The bars for a trained model.
const MIN_CORRELATION: f64 = 0.999;
const MIN_SAME_DECISION: f64 = 0.99;
/// The float discriminator must decide most held-out tokens right (it reaches 0.97), or comparing
/// int8 with it would say little about a trained model.
const MIN_FLOAT_ACCURACY: f64 = 0.9;

/// `[CLS] w… [SEP]` with every word from one topic; `len` words.
fn topic_sequence(rng: &mut TrainRng) -> Vec<u32> {
    let len = 12 + rng.below(SEQ_LEN - 13);
    let topic = rng.below(TOPICS);
    let mut ids = vec![2u32];
    ids.extend((0..len).map(|_| (8 + topic * TOPIC_WORDS + rng.below(TOPIC_WORDS)) as u32));
    ids.push(3);
    ids
}

fn batch(rng: &mut TrainRng) -> Batch {
    let mut b = Batch {
        batch_size: BATCH,
        seq_len: SEQ_LEN,
        input_ids: Vec::new(),
        attention_mask: Vec::new(),
        token_type_ids: vec![0; BATCH * SEQ_LEN],
    };
    for _ in 0..BATCH {
        let ids = topic_sequence(rng);
        b.attention_mask.extend((0..SEQ_LEN).map(|i| u8::from(i < ids.len())));
        b.input_ids.extend(ids.iter().copied().chain(std::iter::repeat(0)).take(SEQ_LEN));
    }
    b
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let (va, vb): (f64, f64) = (a.iter().map(|x| (x - ma).powi(2)).sum(), b.iter().map(|y| (y - mb).powi(2)).sum());
    cov / (va * vb).sqrt()
}

#[test]
fn pretrained_discriminator_int8_matches_float() {
    let gen = ElectraConfig { vocab_size: VOCAB, max_position_embeddings: SEQ_LEN, ..ElectraConfig::tiny_generator() };
    let disc = ElectraConfig { vocab_size: VOCAB, max_position_embeddings: SEQ_LEN, ..ElectraConfig::tiny() };
    let mut rng = TrainRng::new(11);
    let mut model = ElectraPretraining::init(gen, disc, 12).unwrap();
    let config = AdamWConfig::electra();
    let schedule = LinearSchedule { warmup_steps: 10, total_steps: STEPS as u64, peak_lr: config.lr };
    let mut opt = AdamW::new(config, model.params());
    let opts = ObjectiveOptions { pad_id: 0, cls_id: 2, sep_id: 3, mask_id: 4, ..ObjectiveOptions::default() };
    let mut last_accuracy = Vec::new();
    for step in 0..STEPS {
        let stats = model.step_gradients(&batch(&mut rng), &mut rng, &opts).unwrap();
        let (params, grads) = model.params_mut_and_grads();
        opt.step(params, grads, schedule.lr(step as u64)).unwrap();
        if step >= STEPS - 30 {
            last_accuracy.push(stats.rtd_accuracy);
        }
    }

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
        let mut arena = vec![0u32; int8.arena_bytes(ids.len()).div_ceil(4)];
        let q = int8.run(&ids, None, bytemuck::cast_slice_mut(&mut arena)).unwrap().values.to_vec();
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
