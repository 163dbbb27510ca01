//! Pre-training the tiny ELECTRA pair on a few hundred structured synthetic sequences: the discriminator's
//! loss falls and it beats the "everything is original" baseline.

mod common;

use common::topics::{batch_of, pretrain, tiny_pair, topic_example, BATCH, STEPS};
use electra_train::objective::{ElectraPretraining, StepStats, TrainRng};

/// Distinct examples drawn up front and cycled through (see [`common::topics`] for what they are).
const EXAMPLES: usize = 320;

fn corpus(rng: &mut TrainRng) -> Vec<(Vec<u32>, Vec<u8>)> {
    (0..EXAMPLES).map(|_| topic_example(rng)).collect()
}

fn mean(stats: &[StepStats], f: impl Fn(&StepStats) -> f32) -> f32 {
    stats.iter().map(f).sum::<f32>() / stats.len() as f32
}

#[test]
fn tiny_electra_learns_to_detect_replaced_tokens() {
    let (gen, disc) = tiny_pair();
    let seed = 2024;
    let mut rng = TrainRng::new(seed);
    let data = corpus(&mut rng);
    let mut model = ElectraPretraining::init(gen, disc, seed + 7).unwrap();
    // The examples in turn, `BATCH` a step, round the corpus.
    let history =
        pretrain(&mut model, &mut rng, |step, _| batch_of((0..).map(|i| &data[(step * BATCH + i) % data.len()])));
    let (first, last) = (&history[..15], &history[STEPS - 30..]);
    let (rtd_first, rtd_last) = (mean(first, |s| s.disc_loss), mean(last, |s| s.disc_loss));
    let accuracy = mean(last, |s| s.rtd_accuracy);
    let baseline = mean(last, |s| 1.0 - s.replaced_fraction);
    eprintln!(
        "RTD loss {rtd_first:.4} → {rtd_last:.4}; MLM {:.3} → {:.3}; RTD accuracy {accuracy:.4} vs all-original {baseline:.4}",
        mean(first, |s| s.gen_loss),
        mean(last, |s| s.gen_loss)
    );
    assert!(rtd_last < 0.8 * rtd_first, "RTD loss did not fall: {rtd_first} → {rtd_last}");
    assert!(accuracy > baseline + 0.02, "RTD accuracy {accuracy} not above the all-original baseline {baseline}");
}
