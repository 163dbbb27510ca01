//! One fine-tuning step of each task head against HF transformers (float64 reference on the fixture's float32
//! weights, `fixtures/hf-electra-tiny/finetune.safetensors`, made by `scripts/fixtures/make_finetune_fixtures.py`):
//! sequence classification (3 labels), regression (1 label, MSE) and token classification (5 labels).
//!
//! - dropout off: logits, loss and every gradient;
//! - the optimizer step of the recipe on HF's own gradients: global-norm clipping at 1, layer-wise learning
//!   rates (base 1e-3, decay 0.8), weight decay 0.01 except biases and LayerNorm, once as `torch.optim.AdamW`
//!   (bias correction, the reference) and once as ELECTRA's `AdamWeightDecayOptimizer` (none);
//! - dropout on (hidden 0.1, attention 0.2, classifier 0.3, different so that a mix-up shows) with the masks HF
//!   drew: logits, loss and every gradient.
//!
//! Tolerances: `common::FORWARD_ABS_TOL`, `common::GRAD_REL_TOL`/`GRAD_ABS_TOL`, and [`STEP_ABS_TOL`] below.

mod common;

use common::*;
use electra_train::finetune::recipe::layer_lr_scale;
use electra_train::model::dropout::{Dropout, DropoutRates};
use electra_train::model::{Labels, TaskModel};
use electra_train::optim::{AdamW, AdamWConfig};
use std::collections::BTreeMap;

/// Parameters after one step: the reference is float64 from the same gradients, stored as float32. Our step is
/// float32: θ (|θ| ≲ 3) carries ~2e-7 of rounding and the update (≈ lr = 1e-3 per element) ~1e-10, so 1e-6
/// covers both with margin, while a wrong learning rate (factor 0.8 on a 1e-3 step) or a missing weight decay
/// (1e-5·θ) is ten or more times larger than it.
const STEP_ABS_TOL: f32 = 1e-6;
const BASE_LR: f32 = 1e-3;
const LAYER_DECAY: f32 = 0.8;
const RATES: DropoutRates = DropoutRates { hidden: 0.1, attention: 0.2, classifier: 0.3 };

struct Fixture {
    cases: Cases,
    ft: Cases,
}

impl Fixture {
    fn load() -> Self {
        Self { cases: Cases::load(), ft: Cases::load_file("finetune.safetensors") }
    }
}

enum Target {
    Classes(Vec<i64>),
    Scores(Vec<f32>),
}

impl Target {
    fn of(head: &str, ft: &Cases) -> Self {
        let key = format!("ft.{head}.labels");
        if head == "reg" {
            Self::Scores(ft.f32(&key).to_vec())
        } else {
            Self::Classes(ft.i64(&key).to_vec())
        }
    }

    fn labels(&self) -> Labels<'_> {
        match self {
            Self::Classes(c) => Labels::Classes(c),
            Self::Scores(s) => Labels::Scores(s),
        }
    }
}

fn check_grads(model: &TaskModel, ft: &Cases, prefix: &str) {
    let expected = ft.names_under(prefix);
    let mut ours: Vec<String> = model.grads().entries().iter().map(|e| e.name.clone()).collect();
    ours.sort();
    assert_eq!(ours, expected, "{prefix}: parameter names differ from HF's");
    for name in &ours {
        assert_grad(&format!("{prefix}{name}"), model.grads().get(name).unwrap(), ft.f32(&format!("{prefix}{name}")));
    }
}

fn forward_backward_matches(head: &str) {
    let fx = Fixture::load();
    let batch = Inputs::new(&fx.cases, "input_ids");
    let target = Target::of(head, &fx.ft);
    let mut model = task_model(head);
    let out = model.loss_and_gradients(&batch.tokens(), target.labels()).unwrap();
    assert_forward(
        &format!("ft.{head}.logits"),
        out.logits.as_slice().unwrap(),
        fx.ft.f32(&format!("ft.{head}.logits")),
    );
    assert_forward(&format!("ft.{head}.loss"), &[out.loss], fx.ft.f32(&format!("ft.{head}.loss")));
    check_grads(&model, &fx.ft, &format!("ft.{head}.grad."));
}

fn dropout_matches(head: &str) {
    let fx = Fixture::load();
    let batch = Inputs::new(&fx.cases, "input_ids");
    let target = Target::of(head, &fx.ft);
    let prefix = format!("ft.{head}.drop.mask.");
    let masks: BTreeMap<String, Vec<f32>> = fx
        .ft
        .names_under(&prefix)
        .into_iter()
        .map(|site| (site.clone(), fx.ft.f32(&format!("{prefix}{site}")).to_vec()))
        .collect();
    let expected_sites = if head == "tok" { 8 } else { 9 };
    assert_eq!(masks.len(), expected_sites, "{head}: dropout sites in the fixture");
    let mut model = task_model(head);
    let drop = Dropout::given(RATES, &masks);
    let out = model.loss_and_gradients_with(&batch.tokens(), target.labels(), &drop).unwrap();
    assert_eq!(drop.missing_sites(), Vec::<String>::new(), "{head}: every HF dropout site is one of ours");
    assert_forward(
        &format!("ft.{head}.drop.logits"),
        out.logits.as_slice().unwrap(),
        fx.ft.f32(&format!("ft.{head}.drop.logits")),
    );
    assert_forward(&format!("ft.{head}.drop.loss"), &[out.loss], fx.ft.f32(&format!("ft.{head}.drop.loss")));
    // Dropout changes the result: the test would catch masks that were not applied.
    let plain = fx.ft.f32(&format!("ft.{head}.loss"))[0];
    assert!((out.loss - plain).abs() > 10.0 * FORWARD_ABS_TOL, "{head}: dropout had no effect on the loss");
    check_grads(&model, &fx.ft, &format!("ft.{head}.drop.grad."));
}

/// The recipe's step applied to HF's gradients lands on the reference parameters.
fn step_matches(head: &str, bias_correction: bool, key: &str) {
    let fx = Fixture::load();
    let mut model = task_model(head);
    let layers = model.config.num_hidden_layers;
    let mut grads = model.params().zeros_like();
    for e in model.params().entries() {
        grads.set(&e.name, fx.ft.f32(&format!("ft.{head}.grad.{}", e.name))).unwrap();
    }
    let config = AdamWConfig {
        lr: BASE_LR,
        eps: 1e-6,
        weight_decay: 0.01,
        bias_correction,
        clip_norm: Some(1.0),
        ..AdamWConfig::electra()
    };
    let mut opt = AdamW::new(config, model.params())
        .with_lr_scales(model.params(), |name| layer_lr_scale(name, layers, LAYER_DECAY));
    let report = opt.step(model.params_mut(), &grads, BASE_LR).unwrap();
    let norm = fx.ft.f32(&format!("ft.{head}.grad_norm"))[0];
    assert!((report.grad_norm - norm).abs() <= 1e-5 * norm, "{head}: gradient norm {} vs HF {norm}", report.grad_norm);
    assert!(report.clip_scale < 1.0, "the fixture's gradients are clipped");
    let mut worst = 0.0f32;
    for e in model.params().entries() {
        let got = model.params().get(&e.name).unwrap();
        let want = fx.ft.f32(&format!("ft.{head}.{key}.{}", e.name));
        let d = max_abs_diff(got, want);
        assert!(d <= STEP_ABS_TOL, "ft.{head}.{key}.{}: max |diff| {d} > {STEP_ABS_TOL}", e.name);
        worst = worst.max(d);
    }
    eprintln!("ft.{head}.{key}: every parameter within {worst:.2e}");
}

#[test]
fn sequence_classification_step_matches_hf() {
    forward_backward_matches("cls");
    step_matches("cls", true, "adamw");
    step_matches("cls", false, "electra_adamw");
}

#[test]
fn regression_step_matches_hf() {
    forward_backward_matches("reg");
    step_matches("reg", true, "adamw");
    step_matches("reg", false, "electra_adamw");
}

#[test]
fn token_classification_step_matches_hf() {
    forward_backward_matches("tok");
    step_matches("tok", true, "adamw");
    step_matches("tok", false, "electra_adamw");
}

#[test]
fn sequence_classification_with_dropout_matches_hf() {
    dropout_matches("cls");
}

#[test]
fn regression_with_dropout_matches_hf() {
    dropout_matches("reg");
}

#[test]
fn token_classification_with_dropout_matches_hf() {
    dropout_matches("tok");
}
