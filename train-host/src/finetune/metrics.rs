//! Task metrics of GLUE and CoNLL, each computed as an outside reference computes it.
//!
//! | function | reference |
//! |---|---|
//! | [`accuracy`] | scikit-learn `accuracy_score` |
//! | [`f1_binary`] | scikit-learn `f1_score(average="binary", pos_label=…, zero_division=0)` |
//! | [`matthews`] | scikit-learn `matthews_corrcoef` (multiclass form) |
//! | [`ConfusionMatrix`] | scikit-learn `confusion_matrix(labels=range(k))`, `counts[gold][pred]` |
//! | [`pearson`], [`spearman`] | scipy.stats `pearsonr`, `spearmanr` |
//! | [`span_scores`], [`token_accuracy`] | seqeval (default mode: `get_entities`, `classification_report`, `accuracy_score`) |
//!
//! `scripts/fixtures/make_metric_fixtures.py` computes these references on random and edge cases
//! (`train-host/tests/fixtures/metrics_cases.json`, with the versions it used); the test module below
//! checks every function against it.
//!
//! **Undefined values and lengths.** Nothing here panics. Counting metrics (accuracy, F1, precision,
//! recall, Matthews) are 0 where they are undefined (an empty input, no positive class, a constant
//! predictor), as scikit-learn and seqeval with `zero_division=0` report them. Correlations are NaN
//! where scipy's are (a constant input, a NaN in the input) and also where scipy raises (fewer than
//! two pairs). Two slices of different lengths are compared over the shorter one (its prefix pairs);
//! for tagging, sentence pairs beyond the shorter list are dropped and each sentence pair is cut to
//! its shorter length. (The references raise on mismatched lengths: a caller that pairs its own
//! predictions with gold labels never has them.)
//!
//! **Report names** are those of Hugging Face's `evaluate` metrics, so numbers can be read next to
//! `run_glue.py` / `run_ner.py` logs:
//! - `glue` (`evaluate/metrics/glue/glue.py`): `accuracy`, `f1` (MRPC, QQP), `matthews_correlation`
//!   (CoLA), `pearson` and `spearmanr` (STS-B); plus `acc_and_f1` and `corr`, the averages that
//!   transformers' `glue_compute_metrics` adds (`acc_and_f1`, `pearson_and_spearman`).
//! - `seqeval` (`evaluate/metrics/seqeval/seqeval.py`): `overall_precision`, `overall_recall`,
//!   `overall_f1`, `overall_accuracy`, and per chunk type `precision`, `recall`, `f1`, `number`,
//!   flattened to `{TYPE}_{name}` as transformers' `run_ner.py` flattens them (`NP_f1`, `PER_number`).
//!   A chunk type literally named `overall` would shadow nothing: [`Report::get`] returns the first
//!   match, and the overall scores come first.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

/// The metric names [`Report`]s use (Hugging Face `evaluate`'s `glue` and `seqeval` names, see the
/// module documentation).
pub mod names {
    pub const ACCURACY: &str = "accuracy";
    pub const F1: &str = "f1";
    /// (accuracy + f1) / 2, transformers' `acc_and_f1`.
    pub const ACC_AND_F1: &str = "acc_and_f1";
    pub const MATTHEWS: &str = "matthews_correlation";
    pub const PEARSON: &str = "pearson";
    pub const SPEARMAN: &str = "spearmanr";
    /// (pearson + spearmanr) / 2, transformers' `corr`.
    pub const CORR: &str = "corr";
    pub const OVERALL_PRECISION: &str = "overall_precision";
    pub const OVERALL_RECALL: &str = "overall_recall";
    pub const OVERALL_F1: &str = "overall_f1";
    /// Token accuracy (seqeval's `accuracy_score`).
    pub const OVERALL_ACCURACY: &str = "overall_accuracy";
}

/// Number of leading pairs two slices share.
fn paired_len<A, B>(a: &[A], b: &[B]) -> usize {
    a.len().min(b.len())
}

/// Accuracy: fraction of predictions equal to the gold label (over the shorter slice; 0 when empty).
pub fn accuracy(pred: &[usize], gold: &[usize]) -> f64 {
    let n = paired_len(pred, gold);
    if n == 0 {
        return 0.0;
    }
    let correct = pred.iter().zip(gold).filter(|(p, g)| p == g).count();
    correct as f64 / n as f64
}

/// Binary F1 of the positive class `positive` (sklearn `f1_score(average="binary", pos_label=...)`);
/// 0 when undefined (neither gold nor prediction has a positive), as sklearn with `zero_division=0`.
///
/// With more than two labels this is the one-vs-rest F1 of `positive` (sklearn
/// `f1_score(labels=[positive], average=None)`): every other label counts as negative.
/// Computed as sklearn computes it: 2·tp / (gold positives + predicted positives).
pub fn f1_binary(pred: &[usize], gold: &[usize], positive: usize) -> f64 {
    let (mut tp, mut pred_pos, mut gold_pos) = (0u64, 0u64, 0u64);
    for (&p, &g) in pred.iter().zip(gold) {
        let (p, g) = (p == positive, g == positive);
        tp += u64::from(p && g);
        pred_pos += u64::from(p);
        gold_pos += u64::from(g);
    }
    let denominator = gold_pos + pred_pos;
    if denominator == 0 {
        return 0.0;
    }
    (2 * tp) as f64 / denominator as f64
}

/// Matthews correlation coefficient, multiclass form (sklearn `matthews_corrcoef`); 0 when undefined
/// (empty input, or gold or prediction a single class).
///
/// `classes` sizes the count tables; labels at or above it are counted too (sklearn uses every label
/// that occurs), so it is a hint, never a bound that drops pairs.
pub fn matthews(pred: &[usize], gold: &[usize], classes: usize) -> f64 {
    // Per-label counts: gold (t), predicted (p); dense below `classes`, sparse above.
    let mut t_dense = vec![0u64; classes];
    let mut p_dense = vec![0u64; classes];
    let mut sparse: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
    let mut correct = 0u64;
    let mut n = 0u64;
    for (&p, &g) in pred.iter().zip(gold) {
        n += 1;
        correct += u64::from(p == g);
        match t_dense.get_mut(g) {
            Some(count) => *count += 1,
            None => sparse.entry(g).or_default().0 += 1,
        }
        match p_dense.get_mut(p) {
            Some(count) => *count += 1,
            None => sparse.entry(p).or_default().1 += 1,
        }
    }
    // sklearn's float64 form: cov(yt, yp) = correct·n − Σ t·p, cov(yp, yp) = n² − Σ p², …
    let pairs = t_dense.iter().zip(&p_dense).map(|(&t, &p)| (t, p)).chain(sparse.values().copied());
    let (mut tp_dot, mut tt_dot, mut pp_dot) = (0.0f64, 0.0f64, 0.0f64);
    for (t, p) in pairs {
        let (t, p) = (t as f64, p as f64);
        tp_dot += t * p;
        tt_dot += t * t;
        pp_dot += p * p;
    }
    let n = n as f64;
    let cov_ytyp = correct as f64 * n - tp_dot;
    let cov_ypyp = n * n - pp_dot;
    let cov_ytyt = n * n - tt_dot;
    let product = cov_ypyp * cov_ytyt;
    if product == 0.0 {
        return 0.0;
    }
    cov_ytyp / product.sqrt()
}

/// Pearson correlation (scipy.stats `pearsonr`'s statistic), over the shorter slice.
///
/// NaN when undefined: fewer than two pairs (scipy raises), a constant input, or a NaN in the input.
/// Clipped to [-1, 1]; exactly ±1 for two pairs, as scipy returns.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = paired_len(x, y);
    let (x, y) = (&x[..n], &y[..n]);
    if n < 2 || is_constant(x) || is_constant(y) {
        return f64::NAN;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a - mx, b - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    let r = (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0);
    if n == 2 {
        r.round()
    } else {
        r
    }
}

/// Every value equal to the first (scipy's constant-input test; NaN never equals, so a NaN input is
/// not "constant" and its NaN propagates instead).
fn is_constant(v: &[f64]) -> bool {
    v.first().is_none_or(|&first| v.iter().all(|&a| a == first))
}

/// Spearman: Pearson of average ranks (ties get the mean rank, scipy.stats `spearmanr`), over the
/// shorter slice. NaN when undefined, as [`pearson`] (and for any NaN in the input, scipy's
/// `nan_policy="propagate"`).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let n = paired_len(x, y);
    let (x, y) = (&x[..n], &y[..n]);
    if x.iter().chain(y).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// 1-based ranks, ties sharing their mean rank (scipy.stats `rankdata(method="average")`). Inputs
/// hold no NaN (callers check); -0.0 and 0.0 tie.
fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let value = v[order[start]];
        let end = order[start..].iter().position(|&i| v[i] != value).map_or(order.len(), |offset| start + offset);
        // Positions start..end (0-based) hold ranks start+1 ..= end; their mean:
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// A confusion matrix: `counts[gold][pred]`, one row and one column per label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts the pairs (over the shorter slice). Pairs with a label index outside `labels` are left
    /// out, as sklearn's `confusion_matrix(labels=...)` leaves them out.
    pub fn new(labels: Vec<String>, pred: &[usize], gold: &[usize]) -> Self {
        let k = labels.len();
        let mut counts = vec![vec![0u64; k]; k];
        for (&p, &g) in pred.iter().zip(gold) {
            if let Some(cell) = counts.get_mut(g).and_then(|row| row.get_mut(p)) {
                *cell += 1;
            }
        }
        ConfusionMatrix { labels, counts }
    }

    /// An aligned text table for a terminal: gold labels down the left, predicted labels across the
    /// top, counts right-aligned, one line per gold label, every line ending in `\n`.
    ///
    /// ```text
    /// gold \ pred  neg  pos
    ///         neg    3    1
    ///         pos    2    4
    /// ```
    pub fn render(&self) -> String {
        const CORNER: &str = "gold \\ pred";
        let width = |s: &str| s.chars().count();
        let first = self.labels.iter().map(|l| width(l)).chain([width(CORNER)]).max().unwrap_or(0);
        let columns: Vec<usize> = (0..self.labels.len())
            .map(|c| {
                let digits =
                    self.counts.iter().filter_map(|row| row.get(c)).map(|v| v.to_string().len()).max().unwrap_or(1);
                digits.max(width(&self.labels[c]))
            })
            .collect();
        let mut out = format!("{CORNER:>first$}");
        for (label, w) in self.labels.iter().zip(&columns) {
            out.push_str(&format!("  {label:>w$}"));
        }
        out.push('\n');
        for (label, row) in self.labels.iter().zip(&self.counts) {
            out.push_str(&format!("{label:>first$}"));
            for (count, w) in row.iter().zip(&columns) {
                out.push_str(&format!("  {count:>w$}"));
            }
            out.push('\n');
        }
        out
    }
}

/// Precision, recall, F1 and support of one chunk type (or of all, micro-averaged).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold spans.
    pub support: usize,
}

impl Prf {
    /// seqeval's arithmetic: p = tp/pred, r = tp/gold (0 when the count is 0), f1 = 2pr/(p+r) (0 when
    /// p+r is 0).
    fn from_counts(correct: usize, predicted: usize, gold: usize) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(correct, predicted);
        let recall = ratio(correct, gold);
        let denominator = precision + recall;
        let f1 = if denominator == 0.0 { 0.0 } else { 2.0 * precision * recall / denominator };
        Prf { precision, recall, f1, support: gold }
    }
}

/// seqeval's span-level scores (default mode).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanScores {
    /// Every chunk type in gold or prediction, sorted by name (byte order, which is Python's
    /// code-point order).
    pub per_type: Vec<(String, Prf)>,
    /// Micro average over all spans.
    pub micro: Prf,
}

/// A chunk as seqeval's `get_entities` returns it: type and inclusive token offsets in the flattened
/// corpus, where every sentence is followed by one separator token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Entity<'a> {
    kind: &'a str,
    start: usize,
    end: usize,
}

/// A tag's prefix character and chunk type, as seqeval (non-suffix mode) splits them: the first
/// character, and what follows the first `-` after it (or everything after it when there is no `-`),
/// `_` when that is empty. "B-NP" → ('B', "NP"), "B" → ('B', "_"), "O" → ('O', "_"). An empty tag
/// (seqeval raises on it) reads as "O".
fn split_tag(tag: &str) -> (char, &str) {
    let mut chars = tag.chars();
    let Some(prefix) = chars.next() else {
        return ('O', "_");
    };
    let rest = chars.as_str();
    let kind = rest.split_once('-').map_or(rest, |(_, kind)| kind);
    (prefix, if kind.is_empty() { "_" } else { kind })
}

/// seqeval's `end_of_chunk`: did a chunk end between the previous token and this one?
fn end_of_chunk(prev_tag: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(prev_tag, 'E' | 'S')
        || (matches!(prev_tag, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev_tag != 'O' && prev_tag != '.' && prev_kind != kind)
}

/// seqeval's `start_of_chunk`: did a chunk start at this token?
fn start_of_chunk(prev_tag: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev_tag, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_kind != kind)
}

/// seqeval's `get_entities` on a list of sentences: they are flattened with an "O" after each (so no
/// chunk crosses a sentence boundary) and one more "O" at the end; the state machine is seqeval's,
/// including its start state (previous tag "O", previous type "").
fn entities<'a>(sentences: impl Iterator<Item = &'a [String]>) -> Vec<Entity<'a>> {
    let tokens = sentences.flat_map(|s| s.iter().map(String::as_str).chain(["O"])).chain(["O"]);
    let (mut prev_tag, mut prev_kind) = ('O', "");
    let mut begin = 0;
    let mut chunks = Vec::new();
    for (i, token) in tokens.enumerate() {
        let (tag, kind) = split_tag(token);
        if end_of_chunk(prev_tag, tag, prev_kind, kind) {
            chunks.push(Entity {
                kind: prev_kind,
                start: begin,
                // An end is only ever found after a chunk token, so i ≥ 1.
                end: i.saturating_sub(1),
            });
        }
        if start_of_chunk(prev_tag, tag, prev_kind, kind) {
            begin = i;
        }
        prev_tag = tag;
        prev_kind = kind;
    }
    chunks
}

/// The sentence pairs compared: up to the shorter list, each pair cut to its shorter sentence.
fn paired_sentences<'a>(
    gold: &'a [Vec<String>],
    pred: &'a [Vec<String>],
) -> impl Iterator<Item = (&'a [String], &'a [String])> + Clone {
    gold.iter().zip(pred).map(|(g, p)| {
        let n = paired_len(g, p);
        (&g[..n], &p[..n])
    })
}

/// seqeval's span-level scores (default mode, no scheme): IOB2 and IOB1 tags, chunk types from
/// "B-NP"/"I-NP", "O" outside, also bare "B"/"I" (type `_`) and E-/S- (IOBES) tags, all as seqeval's
/// `get_entities` reads them. A predicted span counts when type, start and end all match a gold span.
/// Sentences are lists of tag strings; see the module documentation for mismatched lengths.
pub fn span_scores(gold: &[Vec<String>], pred: &[Vec<String>]) -> SpanScores {
    let pairs = paired_sentences(gold, pred);
    let gold_entities = entities(pairs.clone().map(|(g, _)| g));
    let pred_entities = entities(pairs.map(|(_, p)| p));
    // Per chunk type: the (start, end) offsets of its gold spans and of its predicted spans.
    type Spans = HashSet<(usize, usize)>;
    let mut by_kind: BTreeMap<&str, (Spans, Spans)> = BTreeMap::new();
    for e in &gold_entities {
        by_kind.entry(e.kind).or_default().0.insert((e.start, e.end));
    }
    for e in &pred_entities {
        by_kind.entry(e.kind).or_default().1.insert((e.start, e.end));
    }
    let (mut all_correct, mut all_pred, mut all_gold) = (0, 0, 0);
    let per_type = by_kind
        .into_iter()
        .map(|(kind, (gold, pred))| {
            let correct = gold.intersection(&pred).count();
            all_correct += correct;
            all_pred += pred.len();
            all_gold += gold.len();
            (kind.to_string(), Prf::from_counts(correct, pred.len(), gold.len()))
        })
        .collect();
    SpanScores { per_type, micro: Prf::from_counts(all_correct, all_pred, all_gold) }
}

/// Token accuracy over all tags (seqeval's `accuracy_score`); 0 when there are no tokens.
pub fn token_accuracy(gold: &[Vec<String>], pred: &[Vec<String>]) -> f64 {
    let (mut correct, mut total) = (0usize, 0usize);
    for (g, p) in paired_sentences(gold, pred) {
        total += g.len();
        correct += g.iter().zip(p).filter(|(a, b)| a == b).count();
    }
    if total == 0 {
        0.0
    } else {
        correct as f64 / total as f64
    }
}

/// What `electra evaluate` / fine-tuning reports: a name → value list in a fixed order, and the
/// task's headline metric (the one model selection uses).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub metrics: Vec<(String, f64)>,
    /// Name of the metric model selection uses; one of `metrics`' names.
    pub headline: String,
}

impl Report {
    fn new(metrics: Vec<(&str, f64)>, headline: &str) -> Self {
        Report {
            metrics: metrics.into_iter().map(|(name, value)| (name.to_string(), value)).collect(),
            headline: headline.to_string(),
        }
    }

    /// The first metric of that name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|(n, _)| n == name).map(|&(_, value)| value)
    }

    /// The headline metric's value (NaN if the report lacks it, which the constructors here never do).
    pub fn headline_value(&self) -> f64 {
        self.get(&self.headline).unwrap_or(f64::NAN)
    }
}

/// Which metrics a classification task reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ClassMetric {
    /// SST-2, RTE, QNLI, MNLI, WNLI, custom tasks: `accuracy`, the headline.
    Accuracy,
    /// MRPC, QQP: `accuracy`, `f1` (positive class 1) and their mean `acc_and_f1` (which GLUE's
    /// leaderboard shows); headline `f1`.
    AccuracyAndF1,
    /// CoLA: `matthews_correlation`, the headline, and `accuracy`.
    Matthews,
}

/// The metrics of a classification task (`classes` labels, 0-based; see [`ClassMetric`]).
pub fn classification_report(pred: &[usize], gold: &[usize], classes: usize, kind: ClassMetric) -> Report {
    use names::*;
    let acc = accuracy(pred, gold);
    match kind {
        ClassMetric::Accuracy => Report::new(vec![(ACCURACY, acc)], ACCURACY),
        ClassMetric::AccuracyAndF1 => {
            let f1 = f1_binary(pred, gold, 1);
            Report::new(vec![(ACCURACY, acc), (F1, f1), (ACC_AND_F1, (acc + f1) / 2.0)], F1)
        }
        ClassMetric::Matthews => {
            Report::new(vec![(MATTHEWS, matthews(pred, gold, classes)), (ACCURACY, acc)], MATTHEWS)
        }
    }
}

/// The metrics of a regression task (STS-B): `pearson`, `spearmanr` and their mean `corr`.
///
/// Headline: `pearson`. The GLUE leaderboard lists STS-B as "Pearson/Spearman", Pearson first, and
/// Hugging Face's `glue` metric returns `pearson` first. (The ELECTRA paper reports Spearman for
/// STS-B; the two rarely differ by more than a point, and `spearmanr` is in every report.)
/// Undefined correlations (constant predictions) are NaN, which never wins a `>` comparison.
pub fn regression_report(pred: &[f64], gold: &[f64]) -> Report {
    use names::*;
    let p = pearson(pred, gold);
    let s = spearman(pred, gold);
    Report::new(vec![(PEARSON, p), (SPEARMAN, s), (CORR, (p + s) / 2.0)], PEARSON)
}

/// The metrics of a tagging task (CoNLL chunking / NER), Hugging Face's `seqeval` names:
/// `overall_precision`, `overall_recall`, `overall_f1` (micro over spans), `overall_accuracy` (token
/// accuracy), then per chunk type, sorted, `{TYPE}_precision`, `{TYPE}_recall`, `{TYPE}_f1`,
/// `{TYPE}_number` (gold spans). Headline `overall_f1`.
pub fn tagging_report(gold: &[Vec<String>], pred: &[Vec<String>]) -> Report {
    use names::*;
    let scores = span_scores(gold, pred);
    let mut metrics = vec![
        (OVERALL_PRECISION.to_string(), scores.micro.precision),
        (OVERALL_RECALL.to_string(), scores.micro.recall),
        (OVERALL_F1.to_string(), scores.micro.f1),
        (OVERALL_ACCURACY.to_string(), token_accuracy(gold, pred)),
    ];
    for (kind, prf) in &scores.per_type {
        metrics.push((format!("{kind}_precision"), prf.precision));
        metrics.push((format!("{kind}_recall"), prf.recall));
        metrics.push((format!("{kind}_f1"), prf.f1));
        metrics.push((format!("{kind}_number"), prf.support as f64));
    }
    Report { metrics, headline: OVERALL_F1.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Fixture agreement tolerance (absolute; every compared value lies in [-1, 1]). Each value is a
    /// float64 ratio of exact integer counts, or a correlation from float64 sums of at most 400 terms
    /// computed in a different order than numpy's; rounding bounds those differences by a few hundred
    /// ulps (~1e-13; the largest seen on the fixture is 8e-15), so 1e-12 is plenty, while any real
    /// disagreement (one count off in 500 is 2e-3) is far above it.
    const TOL: f64 = 1e-12;

    /// Exact comparisons of hand-checked values: a few ulps.
    const HAND_TOL: f64 = 1e-15;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol
    }

    fn strings(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|s| s.to_string()).collect()
    }

    fn fixture() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics_cases.json");
        let text = std::fs::read_to_string(path).expect("read the metrics fixture");
        serde_json::from_str(&text).expect("parse the metrics fixture")
    }

    fn usizes(v: &Value) -> Vec<usize> {
        v.as_array().expect("array").iter().map(|x| x.as_u64().expect("unsigned") as usize).collect()
    }

    fn floats(v: &Value) -> Vec<f64> {
        v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
    }

    /// A number, or NaN for JSON null.
    fn float(v: &Value) -> f64 {
        v.as_f64().unwrap_or(f64::NAN)
    }

    fn sentences(v: &Value) -> Vec<Vec<String>> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_array().expect("sentence").iter().map(|t| t.as_str().expect("tag").to_string()).collect())
            .collect()
    }

    #[track_caller]
    fn check(case: &str, what: &str, ours: f64, reference: f64) {
        assert!(close(ours, reference, TOL), "{case}: {what} = {ours}, reference {reference}");
    }

    #[test]
    fn fixture_covers_every_kind() {
        let f = fixture();
        for key in ["classification", "regression", "tagging"] {
            assert!(f[key].as_array().is_some_and(|cases| cases.len() >= 15), "{key}: too few cases");
        }
        assert!(f["versions"]["scikit-learn"].is_string());
    }

    #[test]
    fn classification_matches_sklearn() {
        let f = fixture();
        for case in f["classification"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let classes = case["classes"].as_u64().expect("classes") as usize;
            let gold = usizes(&case["gold"]);
            let pred = usizes(&case["pred"]);
            check(name, "accuracy", accuracy(&pred, &gold), float(&case["accuracy"]));
            for (pos, reference) in floats(&case["f1"]).into_iter().enumerate() {
                check(name, &format!("f1 pos={pos}"), f1_binary(&pred, &gold, pos), reference);
            }
            check(name, "mcc", matthews(&pred, &gold, classes), float(&case["matthews"]));
            // `classes` is only a hint: a smaller one must not change the value.
            check(name, "mcc k=1", matthews(&pred, &gold, 1), float(&case["matthews"]));
            let labels = (0..classes).map(|c| format!("c{c}")).collect();
            let cm = ConfusionMatrix::new(labels, &pred, &gold);
            let reference: Vec<Vec<u64>> = case["confusion"]
                .as_array()
                .expect("matrix")
                .iter()
                .map(|row| usizes(row).into_iter().map(|v| v as u64).collect())
                .collect();
            assert_eq!(cm.counts, reference, "{name}: confusion matrix");

            let report = classification_report(&pred, &gold, classes, ClassMetric::Matthews);
            assert_eq!(report.headline_value(), matthews(&pred, &gold, classes));
            if classes == 2 {
                let report = classification_report(&pred, &gold, classes, ClassMetric::AccuracyAndF1);
                check(name, "report f1", report.headline_value(), floats(&case["f1"])[1]);
            }
        }
    }

    #[test]
    fn correlations_match_scipy() {
        let f = fixture();
        for case in f["regression"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let (x, y) = (floats(&case["x"]), floats(&case["y"]));
            check(name, "pearson", pearson(&x, &y), float(&case["pearson"]));
            check(name, "spearman", spearman(&x, &y), float(&case["spearman"]));
            // Both are symmetric.
            check(name, "pearson(y, x)", pearson(&y, &x), float(&case["pearson"]));
            check(name, "spearman(y, x)", spearman(&y, &x), float(&case["spearman"]));
        }
    }

    #[test]
    fn spans_match_seqeval() {
        let f = fixture();
        for case in f["tagging"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let gold = sentences(&case["gold"]);
            let pred = sentences(&case["pred"]);

            for (side, tags) in [("gold", &gold), ("pred", &pred)] {
                let ours: Vec<(String, u64, u64)> = entities(tags.iter().map(Vec::as_slice))
                    .into_iter()
                    .map(|e| (e.kind.to_string(), e.start as u64, e.end as u64))
                    .collect();
                let reference: Vec<(String, u64, u64)> = case[format!("{side}_entities")]
                    .as_array()
                    .expect("entities")
                    .iter()
                    .map(|e| {
                        (
                            e[0].as_str().expect("type").to_string(),
                            e[1].as_u64().expect("start"),
                            e[2].as_u64().expect("end"),
                        )
                    })
                    .collect();
                assert_eq!(ours, reference, "{name}: {side} entities");
            }

            let scores = span_scores(&gold, &pred);
            let reference = case["per_type"].as_array().expect("per_type");
            assert_eq!(scores.per_type.len(), reference.len(), "{name}: types");
            for ((kind, prf), r) in scores.per_type.iter().zip(reference) {
                assert_eq!(kind, r[0].as_str().expect("type"), "{name}: type order");
                check(name, &format!("{kind} precision"), prf.precision, float(&r[1]));
                check(name, &format!("{kind} recall"), prf.recall, float(&r[2]));
                check(name, &format!("{kind} f1"), prf.f1, float(&r[3]));
                assert_eq!(prf.support as u64, r[4].as_u64().expect("support"));
            }
            check(name, "precision", scores.micro.precision, float(&case["precision"]));
            check(name, "recall", scores.micro.recall, float(&case["recall"]));
            check(name, "f1", scores.micro.f1, float(&case["f1"]));
            assert_eq!(scores.micro.support as u64, case["support"].as_u64().expect("support"));
            check(name, "accuracy", token_accuracy(&gold, &pred), float(&case["accuracy"]));

            let report = tagging_report(&gold, &pred);
            check(name, "report f1", report.headline_value(), float(&case["f1"]));
            check(name, "report acc", report.get("overall_accuracy").unwrap_or(-1.0), float(&case["accuracy"]));
        }
    }

    #[test]
    fn matthews_two_by_two_by_formula() {
        // tp=3, tn=4, fp=1, fn=2 (positive = 1).
        let gold = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
        let pred = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0];
        let (tp, tn, fp, fn_) = (3.0f64, 4.0f64, 1.0f64, 2.0f64);
        let expected = (tp * tn - fp * fn_) / ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
        assert!((expected - 10.0 / 600f64.sqrt()).abs() < HAND_TOL);
        assert!(close(matthews(&pred, &gold, 2), expected, HAND_TOL));
        // Perfect, inverted, constant predictor.
        assert_eq!(matthews(&gold, &gold, 2), 1.0);
        let inverted: Vec<usize> = gold.iter().map(|g| 1 - g).collect();
        assert_eq!(matthews(&inverted, &gold, 2), -1.0);
        assert_eq!(matthews(&[0; 10], &gold, 2), 0.0);
    }

    #[test]
    fn f1_and_accuracy_by_hand() {
        let pred = [1, 1, 0, 0, 1];
        let gold = [1, 0, 0, 1, 1];
        // tp=2, fp=1, fn=1: p = r = 2/3.
        assert!(close(f1_binary(&pred, &gold, 1), 2.0 / 3.0, HAND_TOL));
        // Class 0: tp=1, fp=1, fn=1.
        assert!(close(f1_binary(&pred, &gold, 0), 0.5, HAND_TOL));
        assert!(close(accuracy(&pred, &gold), 0.6, HAND_TOL));
        // No positive anywhere: 0, sklearn's zero_division=0.
        assert_eq!(f1_binary(&[0, 0], &[0, 0], 1), 0.0);
        let report = classification_report(&pred, &gold, 2, ClassMetric::AccuracyAndF1);
        assert_eq!(report.headline, "f1");
        let names: Vec<&str> = report.metrics.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["accuracy", "f1", "acc_and_f1"]);
        assert!(close(report.get("acc_and_f1").unwrap_or(-1.0), (0.6 + 2.0 / 3.0) / 2.0, HAND_TOL));
    }

    #[test]
    fn spearman_with_ties_by_hand() {
        assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]), [1.5, 4.0, 1.5, 6.0, 4.0, 4.0]);
        assert_eq!(average_ranks(&[0.0, -0.0, 1.0]), [1.5, 1.5, 3.0]);
        // Ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: centred [-1.5, 0, 0, 1.5] and
        // [-1.5, 0.5, -0.5, 1.5]; Σxy = 4.5, Σx² = 4.5, Σy² = 5 → r = 4.5 / √22.5 = 3 / √10.
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[10.0, 30.0, 20.0, 40.0]);
        assert!(close(r, 3.0 / 10f64.sqrt(), HAND_TOL), "{r}");
        // Monotone but not linear: Spearman 1, Pearson below.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| v.exp()).collect();
        assert!(close(spearman(&x, &y), 1.0, HAND_TOL));
        assert!(pearson(&x, &y) < 0.95);
        assert_eq!(pearson(&[1.0, 2.0], &[5.0, 3.0]), -1.0);
    }

    #[test]
    fn undefined_and_mismatched_inputs_do_not_panic() {
        assert_eq!(accuracy(&[], &[]), 0.0);
        assert_eq!(f1_binary(&[], &[], 1), 0.0);
        assert_eq!(matthews(&[], &[], 0), 0.0);
        assert_eq!(matthews(&[usize::MAX, 0], &[usize::MAX, 0], 2), 1.0);
        assert!(pearson(&[], &[]).is_nan());
        assert!(pearson(&[1.0], &[2.0]).is_nan());
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(spearman(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(spearman(&[], &[]).is_nan());
        // Shorter slice wins.
        assert_eq!(accuracy(&[1, 2, 3], &[1, 2]), 1.0);
        assert!(close(pearson(&[1.0, 2.0, 3.0, 100.0], &[2.0, 4.0, 6.0]), 1.0, HAND_TOL));
        let empty = span_scores(&[], &[]);
        assert!(empty.per_type.is_empty());
        assert_eq!(empty.micro.f1, 0.0);
        assert_eq!(token_accuracy(&[], &[]), 0.0);
        let gold = vec![strings(&["B-NP", "I-NP", "O"]), strings(&["B-VP"])];
        let pred = vec![strings(&["B-NP", "I-NP"])];
        let scores = span_scores(&gold, &pred);
        assert_eq!(scores.micro.f1, 1.0);
        assert_eq!(token_accuracy(&gold, &pred), 1.0);
        let report = regression_report(&[1.0, 1.0], &[1.0, 2.0]);
        assert!(report.headline_value().is_nan());
        assert_eq!(report.headline, "pearson");
        let cm = ConfusionMatrix::new(strings(&["a", "b"]), &[0, 5, 1], &[0, 1, 9]);
        assert_eq!(cm.counts, [[1, 0], [0, 0]]);
    }

    #[test]
    fn iob1_iob2_spans_by_hand() {
        let kinds = |tags: &[&str]| -> Vec<(String, usize, usize)> {
            let s = [strings(tags)];
            entities(s.iter().map(Vec::as_slice)).into_iter().map(|e| (e.kind.to_string(), e.start, e.end)).collect()
        };
        let e = |k: &str, s, t| (k.to_string(), s, t);
        // IOB1: spans open with I-; B- only splits two adjacent spans of one type.
        assert_eq!(
            kinds(&["I-NP", "I-NP", "B-NP", "I-VP", "O", "I-PP"]),
            [e("NP", 0, 1), e("NP", 2, 2), e("VP", 3, 3), e("PP", 5, 5)]
        );
        // IOB2 with a stray I- of another type: a new span.
        assert_eq!(kinds(&["B-NP", "I-VP", "I-VP", "O"]), [e("NP", 0, 0), e("VP", 1, 2)]);
        // Bare tags and IOBES.
        assert_eq!(kinds(&["B", "I", "O", "I"]), [e("_", 0, 1), e("_", 3, 3)]);
        assert_eq!(kinds(&["S-PER", "B-LOC", "E-LOC", "E-LOC"]), [e("PER", 0, 0), e("LOC", 1, 2), e("LOC", 3, 3)]);
        assert_eq!(split_tag("B-I-X"), ('B', "I-X"));
        assert_eq!(split_tag(""), ('O', "_"));

        let gold = vec![strings(&["B-NP", "I-NP", "O", "B-VP"]), strings(&["I-PP"])];
        let pred = vec![strings(&["B-NP", "I-NP", "O", "B-NP"]), strings(&["B-PP"])];
        let report = tagging_report(&gold, &pred);
        let names: Vec<&str> = report.metrics.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "overall_precision",
                "overall_recall",
                "overall_f1",
                "overall_accuracy",
                "NP_precision",
                "NP_recall",
                "NP_f1",
                "NP_number",
                "PP_precision",
                "PP_recall",
                "PP_f1",
                "PP_number",
                "VP_precision",
                "VP_recall",
                "VP_f1",
                "VP_number",
            ]
        );
        // Gold NP, VP, PP; predicted NP, NP, PP: 2 correct of 3 each way.
        assert!(close(report.headline_value(), 2.0 / 3.0, HAND_TOL));
        assert_eq!(report.get("NP_precision"), Some(0.5));
        assert_eq!(report.get("VP_number"), Some(1.0));
        assert_eq!(report.get("overall_accuracy"), Some(3.0 / 5.0));
    }

    #[test]
    fn confusion_matrix_renders_aligned() {
        let cm = ConfusionMatrix::new(
            strings(&["negative", "pos"]),
            &[0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            &[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
        );
        assert_eq!(cm.counts, [[1, 1], [1, 11]]);
        assert_eq!(
            cm.render(),
            "gold \\ pred  negative  pos\n   negative         1    1\n        pos         1   11\n"
        );
    }
}
