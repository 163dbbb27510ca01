//! Forward values and the gradient of every parameter against HF transformers (float64 reference on the
//! fixture's float32 weights), for all four ELECTRA classes and the joint generator + discriminator step.
//! Tolerances: `common::FORWARD_ABS_TOL`, `common::GRAD_REL_TOL`, `common::GRAD_ABS_TOL`.

mod common;

use common::*;
use electra_train::checkpoint::HfCheckpoint;
use electra_train::model::{Labels, TaskModel};

/// Every parameter of the model has a reference gradient under `prefix` and matches it, and the reference
/// names no parameter the model lacks.
fn check_all_grads(model: &TaskModel, cases: &Cases, prefix: &str) {
    let expected = cases.names_under(prefix);
    let ours: Vec<String> = model.grads().entries().iter().map(|e| e.name.clone()).collect();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "{prefix}: parameter names differ from HF's");
    let mut worst = (0.0f32, String::new());
    for name in &ours {
        let got = model.grads().get(name).unwrap();
        let rel = assert_grad(&format!("{prefix}{name}"), got, cases.f32(&format!("{prefix}{name}")));
        if rel > worst.0 {
            worst = (rel, name.clone());
        }
    }
    eprintln!("{prefix}*: {} tensors, worst at {:.1}% of its tolerance ({})", ours.len(), worst.0 * 100.0, worst.1);
}

#[test]
fn discriminator_forward_and_gradients_match_hf() {
    let cases = Cases::load();
    let mut model = task_model("disc");
    let inputs = Inputs::new(&cases, "input_ids");
    let hidden = model.hidden_states(&inputs.tokens()).unwrap();
    assert_eq!(hidden.len(), 3);
    for (l, h) in hidden.iter().enumerate() {
        assert_forward(&format!("disc.hidden.{l}"), h.as_slice().unwrap(), cases.f32(&format!("disc.hidden.{l}")));
    }
    let replaced = cases.bytes("disc.labels");
    let out = model.loss_and_gradients(&inputs.tokens(), Labels::Replaced(&replaced)).unwrap();
    assert_forward("disc.logits", out.logits.as_slice().unwrap(), cases.f32("disc.logits"));
    assert_forward("disc.loss", &[out.loss], cases.f32("disc.loss"));
    check_all_grads(&model, &cases, "disc.grad.");
}

#[test]
fn generator_forward_and_gradients_match_hf() {
    let cases = Cases::load();
    let mut model = task_model("gen");
    let inputs = Inputs::new(&cases, "gen.input_ids");
    let hidden = model.hidden_states(&inputs.tokens()).unwrap();
    assert_forward("gen.hidden.last", hidden.last().unwrap().as_slice().unwrap(), cases.f32("gen.hidden.last"));
    let labels = cases.i64("gen.labels").to_vec();
    let out = model.loss_and_gradients(&inputs.tokens(), Labels::Classes(&labels)).unwrap();
    assert_forward("gen.logits", out.logits.as_slice().unwrap(), cases.f32("gen.logits"));
    assert_forward("gen.loss", &[out.loss], cases.f32("gen.loss"));
    check_all_grads(&model, &cases, "gen.grad.");
    // The tied output layer gives the padding row a gradient even though the lookup does not.
    let word = model.grads().get("electra.embeddings.word_embeddings.weight").unwrap();
    assert!(word[..32].iter().any(|&v| v != 0.0));
}

#[test]
fn sequence_classification_matches_hf() {
    let cases = Cases::load();
    let mut model = task_model("cls");
    let inputs = Inputs::new(&cases, "input_ids");
    let labels = cases.i64("cls.labels").to_vec();
    let out = model.loss_and_gradients(&inputs.tokens(), Labels::Classes(&labels)).unwrap();
    assert_eq!(out.logits.dim(), (3, 3));
    assert_forward("cls.logits", out.logits.as_slice().unwrap(), cases.f32("cls.logits"));
    assert_forward("cls.loss", &[out.loss], cases.f32("cls.loss"));
    check_all_grads(&model, &cases, "cls.grad.");
}

#[test]
fn token_classification_matches_hf() {
    let cases = Cases::load();
    let mut model = task_model("tok");
    let inputs = Inputs::new(&cases, "input_ids");
    let labels = cases.i64("tok.labels").to_vec();
    let out = model.loss_and_gradients(&inputs.tokens(), Labels::Classes(&labels)).unwrap();
    assert_forward("tok.logits", out.logits.as_slice().unwrap(), cases.f32("tok.logits"));
    assert_forward("tok.loss", &[out.loss], cases.f32("tok.loss"));
    check_all_grads(&model, &cases, "tok.grad.");
}

#[test]
fn padding_row_gets_no_gradient_from_the_lookup() {
    let cases = Cases::load();
    let mut model = task_model("disc");
    let inputs = Inputs::new(&cases, "input_ids");
    let replaced = cases.bytes("disc.labels");
    model.loss_and_gradients(&inputs.tokens(), Labels::Replaced(&replaced)).unwrap();
    // Rows 1 and 2 are padded with id 0, yet row 0 of the table stays exactly zero.
    let word = model.grads().get("electra.embeddings.word_embeddings.weight").unwrap();
    assert!(word[..32].iter().all(|&v| v == 0.0));
    assert!(word[2 * 32..3 * 32].iter().any(|&v| v != 0.0), "[CLS] row must have a gradient");
}

#[test]
fn joint_generator_discriminator_step_matches_hf() {
    use electra_train::model::ModelError;
    use electra_train::objective::{ElectraPretraining, SharedEmbeddingsFrom};
    let cases = Cases::load();
    let gen = HfCheckpoint::load(&fixture_dir().join("gen")).unwrap();
    let disc = HfCheckpoint::load(&fixture_dir().join("disc")).unwrap();
    // The fixture's two models were initialized apart; its joint step shares the generator's embeddings.
    assert!(matches!(
        ElectraPretraining::from_tensors(gen.config, disc.config, &gen, &disc),
        Err(ModelError::EmbeddingsDiffer { .. })
    ));
    let mut model =
        ElectraPretraining::from_tensors_sharing(gen.config, disc.config, &gen, &disc, SharedEmbeddingsFrom::Generator)
            .unwrap();
    let gen_inputs = Inputs::new(&cases, "gen.input_ids");
    let disc_inputs = Inputs::new(&cases, "joint.disc_input_ids");
    let mlm_labels = cases.i64("gen.labels").to_vec();
    let replaced = cases.bytes("joint.disc_labels");
    let weight: f32 = 50.0; // metadata `joint_disc_weight`
    let losses = model
        .gradients_given_samples(&gen_inputs.tokens(), &mlm_labels, &disc_inputs.tokens(), &replaced, weight)
        .unwrap();
    assert_forward("joint.gen_loss", &[losses.gen_loss], cases.f32("joint.gen_loss"));
    assert_forward("joint.disc_loss", &[losses.disc_loss], cases.f32("joint.disc_loss"));
    assert_forward("joint.loss", &[losses.loss], cases.f32("joint.loss"));

    // Every tensor of the blob maps to exactly one reference gradient: the shared embeddings and the
    // generator's own under `joint.gen.grad.`, the discriminator's own under `joint.disc.grad.`.
    let mut expected: Vec<String> =
        cases.names_under("joint.gen.grad.").iter().map(|n| format!("joint.gen.grad.{n}")).collect();
    expected.extend(cases.names_under("joint.disc.grad.").iter().map(|n| format!("joint.disc.grad.{n}")));
    expected.sort();
    let mut mapped = Vec::new();
    let mut worst = (0.0f32, String::new());
    for entry in model.grads().entries() {
        let key = if let Some(n) = entry.name.strip_prefix("generator.") {
            format!("joint.gen.grad.{n}")
        } else if let Some(n) = entry.name.strip_prefix("discriminator.") {
            format!("joint.disc.grad.{n}")
        } else {
            format!("joint.gen.grad.{}", entry.name)
        };
        let used = assert_grad(&key, model.grads().get(&entry.name).unwrap(), cases.f32(&key));
        if used > worst.0 {
            worst = (used, key.clone());
        }
        mapped.push(key);
    }
    mapped.sort();
    assert_eq!(mapped, expected);
    eprintln!("joint: {} tensors, worst at {:.1}% of its tolerance ({})", mapped.len(), worst.0 * 100.0, worst.1);
}
