//! The pre-training driver end to end on real shards of the bundled corpus: a tiny ELECTRA learns (RTD loss
//! falls, RTD accuracy beats answering "original" everywhere), a stopped and resumed run follows the
//! uninterrupted one bit for bit (with ELECTRA's dropout; also after a kill in the middle of a checkpoint save,
//! and for a run saved before dropout existed), kept steps (`--keep-every`) hold the same models either way, a run
//! started from another's models (`--init`) starts at them and resumes exactly, and a
//! non-finite loss stops the run and keeps the last good checkpoint.

use electra_core::ElectraConfig;
use electra_pipeline::shard::{run as shard_run, ShardOptions};
use electra_pipeline::tokenizer::HostTokenizer;
use electra_train::distributed::World;
use electra_train::model::dropout::DropoutRates;
use electra_train::pretrain::evaluate::{evaluate, load_pair, EvalOptions};
use electra_train::pretrain::metrics_log::read_records;
use electra_train::pretrain::state::{
    checkpoint_dir, kept_checkpoint_dir, RunConfig, DISCRIMINATOR_DIR, GENERATOR_DIR, STATE_TENSORS,
};
use electra_train::pretrain::trainer::{objective_for_vocab, open_data, pretrain, SessionOptions, Trainer};
use electra_train::pretrain::{PretrainError, StepRecord, BUNDLED_VOCAB};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Sequence length of the test shards: short, so that a step takes milliseconds.
const SEQ_LEN: usize = 64;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Shards of the first `files` inaugural addresses (in name order), made once per test binary.
fn shards(files: usize) -> PathBuf {
    static DIRS: OnceLock<std::sync::Mutex<Vec<(usize, tempfile::TempDir)>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(Default::default);
    let mut dirs = dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, dir)) = dirs.iter().find(|(n, _)| *n == files) {
        return dir.path().join("shards");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(repo().join("data/corpus/us-speeches/inaugural"))
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    inputs.sort();
    inputs.truncate(files);
    let out = dir.path().join("shards");
    let opts = ShardOptions { seq_len: SEQ_LEN, num_shards: Some(1), ..ShardOptions::new(inputs, out.clone()) };
    let tokenizer = HostTokenizer::from_bytes(BUNDLED_VOCAB.to_vec()).expect("vocab");
    shard_run(&opts, &tokenizer).expect("sharding");
    dirs.push((files, dir));
    out
}

/// The tiny preset with ELECTRA's settings, a learning rate for a model this small, and `steps` steps.
fn tiny_config(steps: u64, batch_size: usize) -> RunConfig {
    RunConfig {
        generator: ElectraConfig::tiny_generator(),
        discriminator: ElectraConfig::tiny(),
        steps,
        batch_size,
        seed: 7,
        lr: 2e-3,
        warmup_steps: steps / 10,
        weight_decay: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-6,
        clip_norm: Some(1.0),
        bias_correction: false,
        disc_weight: 50.0,
        world_size: 1,
        // Two per step whatever the machine: the resume tests then cover the split and the summed gradients.
        micro_batches: 2,
        // ELECTRA's: the resume tests then cover the dropout masks too.
        dropout: DropoutRates::ELECTRA,
        grad_precision: Default::default(),
        init: None,
    }
}

fn session(data: &Path, out: &Path, save_every: u64, stop_after: Option<u64>) -> SessionOptions {
    SessionOptions {
        data_dir: data.to_path_buf(),
        vocab_txt: BUNDLED_VOCAB.to_vec(),
        out_dir: out.to_path_buf(),
        save_every,
        keep_every: 0,
        progress: false,
        stop_after,
    }
}

/// What must repeat exactly in a resumed run: everything but the timings.
fn trajectory(records: &[StepRecord]) -> Vec<(u64, u32, u32, u32, u32, u32, u32)> {
    records
        .iter()
        .map(|r| {
            let bits = |x: f32| x.to_bits();
            (
                r.step,
                bits(r.loss),
                bits(r.gen_loss),
                bits(r.disc_loss),
                bits(r.rtd_accuracy),
                bits(r.replaced_fraction),
                bits(r.lr),
            )
        })
        .collect()
}

fn checkpoint_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = checkpoint_dir(out);
    [
        format!("{DISCRIMINATOR_DIR}/model.safetensors"),
        format!("{GENERATOR_DIR}/model.safetensors"),
        STATE_TENSORS.to_string(),
    ]
    .into_iter()
    .map(|name| {
        let bytes = std::fs::read(dir.join(&name)).expect("checkpoint file");
        (name, bytes)
    })
    .collect()
}

/// Steps of the learning test: past the point where the generator has learnt the unigram distribution and its
/// replacements stopped being easy to spot (about step 100 here).
const LEARNING_STEPS: u64 = 200;

#[test]
fn tiny_pretraining_lowers_rtd_loss_and_beats_the_all_original_baseline() -> TestResult {
    // Six speeches: 171 sequences of 64 tokens, about nine epochs.
    let data = shards(6);
    let out = tempfile::tempdir()?;
    let steps = LEARNING_STEPS;
    // With bias correction: without it Adam's first ~1000 steps move several times farther than the learning rate
    // (v is underestimated by 1 − β₂ᵗ), which ELECTRA tames with 10,000 warmup steps and a run this short cannot.
    let config = RunConfig { bias_correction: true, ..tiny_config(steps, 8) };
    let summary = pretrain(config.clone(), &session(&data, out.path(), 100, None), false, World::single())?;
    assert_eq!(summary.steps_done, steps);
    let records = read_records(&summary.metrics)?;
    assert_eq!(records.len(), steps as usize);
    let mean = |rs: &[StepRecord], f: fn(&StepRecord) -> f32| rs.iter().map(f).sum::<f32>() / rs.len() as f32;
    let (first, last) = (&records[..20], &records[records.len() - 20..]);
    // The RTD loss starts at ln 2 and the generator's improving samples keep it well above 0 in a run this short.
    let (rtd_first, rtd_last) = (mean(first, |r| r.disc_loss), mean(last, |r| r.disc_loss));
    let (mlm_first, mlm_last) = (mean(first, |r| r.gen_loss), mean(last, |r| r.gen_loss));
    eprintln!("RTD loss {rtd_first:.4} → {rtd_last:.4}, MLM loss {mlm_first:.3} → {mlm_last:.3}");
    assert!(rtd_last < 0.8 * rtd_first, "RTD loss did not fall: {rtd_first} → {rtd_last}");
    assert!(mlm_last < mlm_first, "MLM loss did not fall: {mlm_first} → {mlm_last}");
    assert!(summary.plot.as_deref().is_some_and(Path::exists), "loss.png missing");

    // Evaluated the way training sees the data: the trained discriminator must beat "all original",
    // the untrained one must not.
    let (reader, _) = open_data(&data, BUNDLED_VOCAB)?;
    let opts = EvalOptions {
        batch_size: 16,
        seed: 1,
        max_batches: None,
        objective: objective_for_vocab(BUNDLED_VOCAB, 50.0)?,
    };
    let (trained, _) = load_pair(&summary.checkpoint)?;
    let report = evaluate(&trained, &reader, &opts)?.rtd;
    let untrained = Trainer::new(config, open_data(&data, BUNDLED_VOCAB)?.1, BUNDLED_VOCAB.to_vec(), World::single())?;
    let baseline = evaluate(untrained.model(), &reader, &opts)?.rtd;
    eprintln!("trained: {report:?}\nuntrained: {baseline:?}");
    let (accuracy, all_original) = (report.accuracy.unwrap_or(0.0), report.all_original_accuracy.unwrap_or(1.0));
    // Margins well inside what this run reaches (accuracy +0.018 over all-original, AUC 0.63 against 0.52 untrained).
    assert!(accuracy > all_original + 0.005, "RTD accuracy {accuracy} does not beat all-original {all_original}");
    assert!(report.auc.unwrap_or(0.0) > 0.57, "AUC {:?}", report.auc);
    assert!(baseline.auc.unwrap_or(1.0) < 0.55, "untrained AUC {:?}", baseline.auc);
    Ok(())
}

/// Runs `steps` steps straight, and again stopped after `stop` steps, `damage`d, and resumed; the losses and the
/// final weights and moments must be identical.
fn resume_matches_straight_run(stop: u64, steps: u64, damage: impl Fn(&Path)) -> TestResult {
    resume_with_dropout_matches_straight_run(DropoutRates::ELECTRA, stop, steps, damage)
}

fn resume_with_dropout_matches_straight_run(
    dropout: DropoutRates,
    stop: u64,
    steps: u64,
    damage: impl Fn(&Path),
) -> TestResult {
    // Two speeches: about 40 sequences, five batches an epoch, so the runs cross epoch boundaries.
    let data = shards(2);
    let config = RunConfig { dropout, ..tiny_config(steps, 8) };
    let straight = tempfile::tempdir()?;
    pretrain(config.clone(), &session(&data, straight.path(), 3, None), false, World::single())?;

    let resumed = tempfile::tempdir()?;
    let first = pretrain(config.clone(), &session(&data, resumed.path(), 3, Some(stop)), false, World::single())?;
    assert_eq!(first.steps_done, stop);
    assert!(first.plot.is_none());
    damage(resumed.path());
    let second = pretrain(config, &session(&data, resumed.path(), 3, None), true, World::single())?;
    assert_eq!(second.resumed_from_step, Some(stop));
    assert_eq!(second.steps_done, steps);

    let a = read_records(&straight.path().join("metrics.jsonl"))?;
    let b = read_records(&resumed.path().join("metrics.jsonl"))?;
    assert_eq!(a.len(), steps as usize);
    assert_eq!(trajectory(&a), trajectory(&b));
    for ((name, x), (_, y)) in checkpoint_files(straight.path()).iter().zip(checkpoint_files(resumed.path()).iter()) {
        assert!(x == y, "{name} differs between the straight and the resumed run");
    }
    Ok(())
}

#[test]
fn resumed_run_follows_the_uninterrupted_one_bit_for_bit() -> TestResult {
    // Stopped mid-epoch, between two periodic saves.
    resume_matches_straight_run(7, 14, |out| {
        // The run's dropout is in its state and in both HF configs (what fine-tuning from them starts with).
        let dir = checkpoint_dir(out);
        let state = electra_train::pretrain::state::read_state_json(&dir).expect("trainer state");
        assert_eq!(state.config.dropout, DropoutRates::ELECTRA);
        for model in [DISCRIMINATOR_DIR, GENERATOR_DIR] {
            let text = std::fs::read_to_string(dir.join(model).join("config.json")).expect("config.json");
            let json: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(json["hidden_dropout_prob"], serde_json::json!(0.1), "{model}");
            assert_eq!(json["attention_probs_dropout_prob"], serde_json::json!(0.1), "{model}");
        }
    })
}

/// The models of step `step` as kept in `OUT/checkpoint-<step>` (`--keep-every`).
fn kept_models(out: &Path, step: u64) -> Vec<Vec<u8>> {
    let dir = kept_checkpoint_dir(out, step);
    assert!(!dir.join(STATE_TENSORS).exists(), "{}: a kept step holds no optimizer state", dir.display());
    [DISCRIMINATOR_DIR, GENERATOR_DIR]
        .iter()
        .flat_map(|model| ["config.json", "model.safetensors", "vocab.txt"].map(|f| dir.join(model).join(f)))
        .map(|path| std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

#[test]
fn kept_steps_hold_their_models_also_across_a_resume() -> TestResult {
    let data = shards(2);
    let config = tiny_config(6, 8);
    let with_keep =
        |out: &Path, stop_after: Option<u64>| SessionOptions { keep_every: 2, ..session(&data, out, 0, stop_after) };
    let straight = tempfile::tempdir()?;
    pretrain(config.clone(), &with_keep(straight.path(), None), false, World::single())?;
    // Stopped at step 3, between two kept steps, and resumed.
    let resumed = tempfile::tempdir()?;
    pretrain(config.clone(), &with_keep(resumed.path(), Some(3)), false, World::single())?;
    assert!(!kept_checkpoint_dir(resumed.path(), 4).exists());
    pretrain(config, &with_keep(resumed.path(), None), true, World::single())?;

    for step in [2, 4, 6] {
        assert!(kept_models(straight.path(), step) == kept_models(resumed.path(), step), "step {step} differs");
    }
    for step in [1, 3, 5] {
        assert!(!kept_checkpoint_dir(straight.path(), step).exists(), "step {step} was kept");
    }
    // The last kept step is the final model; the weights move between kept steps.
    let last = checkpoint_files(straight.path());
    assert!(kept_models(straight.path(), 6)[1] == last[0].1, "checkpoint-6's discriminator is not the final one");
    assert!(kept_models(straight.path(), 4)[1] != last[0].1, "the weights did not move from step 4 to 6");
    Ok(())
}

#[test]
fn dropout_changes_the_trajectory() -> TestResult {
    let data = shards(2);
    let mut losses = Vec::new();
    for dropout in [DropoutRates::OFF, DropoutRates::ELECTRA] {
        let out = tempfile::tempdir()?;
        let config = RunConfig { dropout, ..tiny_config(2, 8) };
        pretrain(config, &session(&data, out.path(), 0, None), false, World::single())?;
        losses.push(trajectory(&read_records(&out.path().join("metrics.jsonl"))?));
    }
    // Same masking and samples at step 1 (the RNG's draws do not depend on dropout), other losses.
    assert_ne!(losses[0][0].1, losses[1][0].1, "dropout 0.1 left the loss as it was without dropout");
    Ok(())
}

#[test]
fn a_run_saved_before_dropout_resumes_without_it() -> TestResult {
    // A checkpoint whose trainer_state.json has no `dropout` (written before it existed) continues as the run it
    // was: without dropout, bit for bit.
    resume_with_dropout_matches_straight_run(DropoutRates::OFF, 3, 6, |out| {
        let path = checkpoint_dir(out).join("trainer_state.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("state")).expect("json");
        let config = json["config"].as_object_mut().expect("config");
        assert!(config.remove("dropout").is_some());
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write");
        let state = electra_train::pretrain::state::read_state_json(&checkpoint_dir(out)).expect("old state");
        assert_eq!(state.config.dropout, DropoutRates::OFF);
    })
}

#[test]
fn a_checkpoint_save_killed_half_way_is_ignored_or_recovered() -> TestResult {
    // A kill while the new checkpoint was being written leaves `checkpoint-latest.tmp-<pid>` half full.
    resume_matches_straight_run(5, 10, |out| {
        let tmp = out.join("checkpoint-latest.tmp-4242");
        std::fs::create_dir_all(tmp.join(DISCRIMINATOR_DIR)).expect("mkdir");
        std::fs::write(tmp.join(DISCRIMINATOR_DIR).join("model.safetensors"), b"\x10\x00\x00").expect("write");
    })?;
    // A kill between the two renames leaves only `checkpoint-latest.old`.
    resume_matches_straight_run(4, 8, |out| {
        std::fs::rename(out.join("checkpoint-latest"), out.join("checkpoint-latest.old")).expect("rename");
    })
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() -> TestResult {
    let data = shards(2);
    let out = tempfile::tempdir()?;
    let (reader, identity) = open_data(&data, BUNDLED_VOCAB)?;
    let mut trainer = Trainer::new(tiny_config(10, 4), identity, BUNDLED_VOCAB.to_vec(), World::single())?;
    let mut stream = trainer.data_stream(&reader)?;
    for _ in 0..3 {
        trainer.train_step(&mut stream)?;
    }
    let saved = trainer.save(out.path(), false)?;
    let before = checkpoint_files(out.path());
    let weights_before = trainer.model().params().data().to_vec();

    // One weight of the discriminator's RTD head turned into NaN: every RTD logit becomes NaN.
    let name = "discriminator.discriminator_predictions.dense_prediction.bias";
    trainer.model_mut().params_mut().set(name, &[f32::NAN])?;
    let err = trainer.train_step(&mut stream).err().ok_or("a NaN weight must stop training")?;
    match &err {
        PretrainError::NonFiniteLoss { step, last_good, .. } => {
            assert_eq!(*step, 4);
            assert_eq!(last_good.as_deref(), Some(saved.as_path()));
        }
        other => return Err(format!("expected NonFiniteLoss, got {other}").into()),
    }
    let message = err.to_string();
    assert!(message.contains("not finite at step 4") && message.contains("checkpoint-latest"), "{message}");
    assert_eq!(trainer.step(), 3, "the failed step must not count");
    // The optimizer did not run: every other weight is as it was.
    let after = trainer.model().params().data();
    let changed = weights_before.iter().zip(after).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(changed, 1);
    assert!(checkpoint_files(out.path()) == before, "the last good checkpoint changed");
    Ok(())
}

#[test]
fn a_diverging_run_stops_with_its_last_good_checkpoint() -> TestResult {
    // A learning rate of 1e30 drives the weights to overflow within a few steps.
    let data = shards(2);
    let out = tempfile::tempdir()?;
    let config = RunConfig { lr: 1e30, warmup_steps: 0, ..tiny_config(20, 4) };
    let err = pretrain(config, &session(&data, out.path(), 1, None), false, World::single())
        .err()
        .ok_or("training with lr 1e30 must stop")?;
    let PretrainError::NonFiniteLoss { step, last_good, .. } = &err else {
        return Err(format!("expected NonFiniteLoss, got {err}").into());
    };
    assert!(*step >= 2, "step {step}");
    assert_eq!(last_good.as_deref(), Some(checkpoint_dir(out.path()).as_path()));
    // The checkpoint is the step before the failure, and the metrics end there too.
    let records = read_records(&out.path().join("metrics.jsonl"))?;
    assert_eq!(records.last().map(|r| r.step), Some(step - 1));
    let resumable = electra_train::pretrain::state::read_state_json(&checkpoint_dir(out.path()))?;
    assert_eq!(resumable.progress.step, step - 1);
    Ok(())
}

#[test]
fn resume_refuses_other_settings() -> TestResult {
    let data = shards(2);
    let out = tempfile::tempdir()?;
    pretrain(tiny_config(4, 4), &session(&data, out.path(), 2, Some(2)), false, World::single())?;
    let other = RunConfig { seed: 8, ..tiny_config(4, 4) };
    let err = pretrain(other, &session(&data, out.path(), 2, None), true, World::single()).err().map(|e| e.to_string());
    assert!(err.as_deref().is_some_and(|e| e.contains("seed = 7") && e.contains("asks for 8")), "{err:?}");
    let again = pretrain(tiny_config(4, 4), &session(&data, out.path(), 2, None), false, World::single());
    assert!(matches!(again, Err(PretrainError::RunExists { .. })));
    Ok(())
}

/// Copies `from`'s `discriminator/` and `generator/` into a new directory, as a user would lay out two HF
/// checkpoints for `--init`.
fn model_pair_copy(from: &Path) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    for model in [DISCRIMINATOR_DIR, GENERATOR_DIR] {
        std::fs::create_dir(dir.path().join(model))?;
        for file in ["config.json", "model.safetensors", "vocab.txt"] {
            std::fs::copy(from.join(model).join(file), dir.path().join(model).join(file))?;
        }
    }
    Ok(dir)
}

#[test]
fn a_run_initialized_from_another_starts_at_its_weights_and_resumes_exactly() -> TestResult {
    let data = shards(2);
    let first = tempfile::tempdir()?;
    pretrain(tiny_config(4, 8), &session(&data, first.path(), 0, None), false, World::single())?;
    let first_models = checkpoint_files(first.path());

    // Stopped before its first step, the new run's checkpoint is the first run's models, byte for byte.
    let config = RunConfig { init: Some(first.path().to_path_buf()), seed: 8, ..tiny_config(4, 8) };
    let started = tempfile::tempdir()?;
    pretrain(config.clone(), &session(&data, started.path(), 0, Some(0)), false, World::single())?;
    let at_start = checkpoint_files(started.path());
    assert!(at_start[0].1 == first_models[0].1, "the discriminator is not the one --init named");
    assert!(at_start[1].1 == first_models[1].1, "the generator is not the one --init named");
    // Its optimizer starts afresh: zero moments, where the first run's are not.
    assert!(at_start[2].1 != first_models[2].1, "the optimizer state was carried over");
    let state = electra_train::pretrain::state::read_state_json(&checkpoint_dir(started.path()))?;
    assert_eq!(state.config.init.as_deref(), Some(first.path()));
    assert_eq!(state.progress.step, 0);

    // Resumed from there, it ends bit for bit where an uninterrupted run from the same weights ends, and that
    // differs from the same settings from a random start.
    pretrain(config.clone(), &session(&data, started.path(), 0, None), true, World::single())?;
    let straight = tempfile::tempdir()?;
    pretrain(config.clone(), &session(&data, straight.path(), 0, None), false, World::single())?;
    assert!(checkpoint_files(started.path()) == checkpoint_files(straight.path()), "--init then --resume diverged");
    let from_init = trajectory(&read_records(&straight.path().join("metrics.jsonl"))?);
    let random = tempfile::tempdir()?;
    let random_config = RunConfig { init: None, ..config };
    pretrain(random_config, &session(&data, random.path(), 0, None), false, World::single())?;
    let from_random = trajectory(&read_records(&random.path().join("metrics.jsonl"))?);
    assert_ne!(from_init[0].1, from_random[0].1, "--init gave the loss of a random start");

    // Two HF checkpoints laid out by hand (discriminator/ and generator/) start the same run.
    let by_hand = model_pair_copy(&checkpoint_dir(first.path()))?;
    let config = RunConfig { init: Some(by_hand.path().to_path_buf()), seed: 8, ..tiny_config(4, 8) };
    let out = tempfile::tempdir()?;
    pretrain(config, &session(&data, out.path(), 0, None), false, World::single())?;
    assert!(checkpoint_files(out.path())[..2] == checkpoint_files(straight.path())[..2]);
    Ok(())
}

#[test]
fn init_refuses_what_it_cannot_start_from() -> TestResult {
    let data = shards(2);
    let first = tempfile::tempdir()?;
    pretrain(tiny_config(2, 8), &session(&data, first.path(), 0, None), false, World::single())?;
    let start = |init: &Path, config: RunConfig| -> String {
        let out = tempfile::tempdir().expect("temp dir");
        let config = RunConfig { init: Some(init.to_path_buf()), ..config };
        match pretrain(config, &session(&data, out.path(), 0, None), false, World::single()) {
            Ok(_) => panic!("--init {} was accepted", init.display()),
            Err(e) => e.to_string(),
        }
    };

    // A directory without the two models.
    let empty = tempfile::tempdir()?;
    let message = start(empty.path(), tiny_config(2, 8));
    assert!(message.contains(&empty.path().display().to_string()) && message.contains("generator/config.json"));

    // Models of another size than the run's.
    let wider =
        ElectraConfig { intermediate_size: 2 * ElectraConfig::tiny().intermediate_size, ..ElectraConfig::tiny() };
    let message = start(first.path(), RunConfig { discriminator: wider, ..tiny_config(2, 8) });
    assert!(message.contains("discriminator") && message.contains("config.json"), "{message}");

    // A generator whose embeddings are not the discriminator's: ELECTRA shares them, so neither copy is dropped.
    let pair = model_pair_copy(&checkpoint_dir(first.path()))?;
    let path = pair.path().join(GENERATOR_DIR).join("model.safetensors");
    let bytes = std::fs::read(&path)?;
    let file = safetensors::SafeTensors::deserialize(&bytes)?;
    let name = "electra.embeddings.position_embeddings.weight";
    let mut tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n.clone(), v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let changed = tensors.iter_mut().find(|t| t.0 == name).ok_or("no position embeddings")?;
    changed.3[0] ^= 1;
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dtype, shape, data)| {
            Ok((n.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)?))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    std::fs::write(&path, safetensors::serialize(views, None)?)?;
    let message = start(pair.path(), tiny_config(2, 8));
    assert!(message.contains(name) && message.contains("shares the embeddings"), "{message}");
    Ok(())
}
