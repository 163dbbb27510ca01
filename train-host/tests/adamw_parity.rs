//! One `torch.optim.AdamW` step (bias correction on, no clipping; settings in the fixture's `adamw`
//! metadata) on the discriminator's reference gradients reproduces `disc.adamw1.*` for every parameter.

mod common;

use common::*;
use electra_train::checkpoint::HfCheckpoint;
use electra_train::model::TaskModel;
use electra_train::optim::{AdamW, AdamWConfig};

/// Parameters after one step: the reference is float64 rounded to float32 (½ ulp); float32 arithmetic
/// adds a couple of roundings of `θ` and of the update, so 4 float32 epsilons relative to `|θ|` (plus a
/// floor for θ ≈ 0). Every step moves a parameter by ~lr = 5e-4 and the decay alone by lr·0.01·|θ| ≈ 5e-6·|θ|,
/// 10× this tolerance, so a missing decay, bias correction or wrong ε fails.
const ADAMW_REL_TOL: f32 = 4.0 * f32::EPSILON;
const ADAMW_ABS_TOL: f32 = 1e-9;

#[test]
fn one_torch_adamw_step_matches_hf() {
    let cases = Cases::load();
    let mut model = TaskModel::from_checkpoint(&HfCheckpoint::load(&fixture_dir().join("disc")).unwrap()).unwrap();
    // The metadata says: lr 5e-4, betas (0.9, 0.999), eps 1e-6, weight decay 0.01 except biases and LayerNorm,
    // bias correction on (torch).
    let config = AdamWConfig { bias_correction: true, clip_norm: None, ..AdamWConfig::electra() };
    let meta: serde_json::Value = serde_json::from_str(&adamw_metadata()).unwrap();
    assert_eq!(meta["lr"].as_f64().unwrap() as f32, config.lr);
    assert_eq!(meta["eps"].as_f64().unwrap() as f32, config.eps);
    assert_eq!(meta["weight_decay"].as_f64().unwrap() as f32, config.weight_decay);
    assert!(meta["bias_correction"].as_bool().unwrap());

    let mut grads = model.params().zeros_like();
    let names: Vec<String> = model.params().entries().iter().map(|e| e.name.clone()).collect();
    for name in &names {
        grads.set(name, cases.f32(&format!("disc.grad.{name}"))).unwrap();
    }
    let mut opt = AdamW::new(config, model.params());
    opt.step(model.params_mut(), &grads, config.lr).unwrap();

    assert_eq!(cases.names_under("disc.adamw1.").len(), names.len());
    for name in &names {
        let got = model.params().get(name).unwrap();
        let want = cases.f32(&format!("disc.adamw1.{name}"));
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let tol = ADAMW_REL_TOL * b.abs() + ADAMW_ABS_TOL;
            assert!((a - b).abs() <= tol, "{name}[{i}]: {a} vs {b} (tolerance {tol})");
        }
    }
}

fn adamw_metadata() -> String {
    let bytes = std::fs::read(fixture_dir().join("cases.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().as_ref().unwrap()["adamw"].clone()
}
