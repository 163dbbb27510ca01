//! The labels section: a classifier's class names (HF `id2label`, in id order) and what its outputs
//! mean (HF `problem_type`), so that a device prints `positive (0.93)` from the model file alone.
//!
//! The bytes are in [`super::format`]'s module docs. Reading borrows the names in place ([`Labels`]);
//! writing goes into a caller buffer. Neither allocates.

use super::format::{ProblemType, LABELS_HEADER_LEN, LABELS_VERSION};
use crate::config::HeadKind;
use core::fmt;

/// The label names and problem type to write into a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelsSpec<'v> {
    /// One name per output of the head, in id order (HF `id2label[0]`, `id2label[1]`, …). A name may
    /// be empty but cannot contain a newline (the section separates names with newlines).
    pub names: &'v [&'v str],
    pub problem_type: ProblemType,
}

/// Why a labels section cannot be written or read.
///
/// `#[non_exhaustive]`: a later version may add variants; match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelsError {
    /// The section is shorter than its 16-byte header.
    TooShort { len: usize },
    /// Written by a newer electra-edge (section version `found`); this build reads up to `supported`.
    NewerVersion { found: u32, supported: u32 },
    /// Section version 0, which no electra-edge ever wrote.
    UnknownVersion { found: u32 },
    /// The section header's reserved word is not zero.
    ReservedNotZero,
    /// A problem-type code this build does not know.
    UnknownProblemType { found: u32 },
    /// The head has no labels (replaced-token detection, masked LM), yet the file names some.
    NotAClassifier { head: HeadKind },
    /// The section holds a different number of labels than the head has outputs.
    CountMismatch { labels: u64, num_labels: usize },
    /// The section says `count` labels but holds `names` newline-separated names (a name with a
    /// newline in it, or a damaged section).
    NameCountMismatch { names: usize, count: usize },
    /// The names are not UTF-8 (the first `valid_up_to` bytes are).
    NotUtf8 { valid_up_to: usize },
    /// Name `index` contains a newline, which separates names in the section (writing only).
    NameWithNewline { index: usize },
    /// Regression or multi-label outputs on a token classifier, which HF does not define.
    ProblemTypeNotForTokens { problem_type: ProblemType },
    /// The section is too large for this machine's address space or its 32-bit count.
    TooLarge,
}

impl fmt::Display for LabelsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => {
                write!(f, "labels section of {len} bytes is shorter than its {LABELS_HEADER_LEN}-byte header")
            }
            Self::NewerVersion { found, supported } => write!(
                f,
                "labels section version {found} is newer than this build reads (up to {supported}); \
                 upgrade electra-edge or re-export the model"
            ),
            Self::UnknownVersion { found } => write!(f, "labels section version {found} does not exist"),
            Self::ReservedNotZero => write!(f, "labels section has non-zero reserved bytes"),
            Self::UnknownProblemType { found } => write!(f, "labels section has unknown problem type {found}"),
            Self::NotAClassifier { head } => {
                write!(f, "labels given for a {} head, which has no labels", head.hf_architecture())
            }
            Self::CountMismatch { labels, num_labels } => {
                write!(f, "{labels} label names for a head with {num_labels} labels")
            }
            Self::NameCountMismatch { names, count } => {
                write!(f, "labels section holds {names} newline-separated names but says {count}")
            }
            Self::NotUtf8 { valid_up_to } => write!(f, "label names are not UTF-8 (from byte {valid_up_to})"),
            Self::NameWithNewline { index } => write!(f, "label name #{index} contains a newline"),
            Self::ProblemTypeNotForTokens { problem_type } => {
                write!(f, "problem type {} is not defined for token classification", problem_type.hf_name())
            }
            Self::TooLarge => write!(f, "labels section is too large"),
        }
    }
}

impl core::error::Error for LabelsError {}

/// The labels of a model file, borrowed from it: `labels.label(1) == Some("positive")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labels<'a> {
    /// The names joined by `'\n'`, checked to split into exactly `count` names.
    names: &'a str,
    count: usize,
    problem_type: ProblemType,
}

impl<'a> Labels<'a> {
    /// Number of labels: the head's `num_labels`.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Never true for a checked section (every classifier has a label); here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// What the head's outputs mean.
    pub fn problem_type(&self) -> ProblemType {
        self.problem_type
    }

    /// Whether the outputs are regression scores rather than class logits.
    pub fn is_regression(&self) -> bool {
        self.problem_type == ProblemType::Regression
    }

    /// The name of label `id`, or `None` past the last one. Walks the names (labels are few).
    pub fn label(&self, id: usize) -> Option<&'a str> {
        if id < self.count {
            self.iter().nth(id)
        } else {
            None
        }
    }

    /// The id of the label called `name`, if any (HF `label2id`).
    pub fn id(&self, name: &str) -> Option<usize> {
        self.iter().position(|n| n == name)
    }

    /// The names in id order.
    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter(self.names.split('\n'))
    }
}

impl<'a> IntoIterator for Labels<'a> {
    type Item = &'a str;
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

/// The label names of a [`Labels`], in id order.
#[derive(Clone, Debug)]
pub struct LabelIter<'a>(core::str::Split<'a, char>);

impl<'a> Iterator for LabelIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

/// The head's number of outputs that have names, or why it has none.
fn num_labels(head: HeadKind) -> Result<usize, LabelsError> {
    match head {
        HeadKind::SequenceClassification { num_labels } | HeadKind::TokenClassification { num_labels } => {
            Ok(num_labels)
        }
        HeadKind::ReplacedTokenDetection | HeadKind::MaskedLm => Err(LabelsError::NotAClassifier { head }),
    }
}

/// Checks that `problem_type` is defined for `head` (HF's token classifier is single-label only).
fn check_problem_type(head: HeadKind, problem_type: ProblemType) -> Result<(), LabelsError> {
    match (head, problem_type) {
        (HeadKind::TokenClassification { .. }, ProblemType::Regression | ProblemType::MultiLabelClassification) => {
            Err(LabelsError::ProblemTypeNotForTokens { problem_type })
        }
        _ => Ok(()),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Checks a labels section of a file whose head is `head` and borrows its names.
pub(crate) fn parse(section: &[u8], head: HeadKind) -> Result<Labels<'_>, LabelsError> {
    if section.len() < LABELS_HEADER_LEN {
        return Err(LabelsError::TooShort { len: section.len() });
    }
    let version = u32_at(section, 0);
    if version == 0 {
        return Err(LabelsError::UnknownVersion { found: version });
    }
    if version > LABELS_VERSION {
        return Err(LabelsError::NewerVersion { found: version, supported: LABELS_VERSION });
    }
    if u32_at(section, 12) != 0 {
        return Err(LabelsError::ReservedNotZero);
    }
    let code = u32_at(section, 8);
    let problem_type = ProblemType::from_code(code).ok_or(LabelsError::UnknownProblemType { found: code })?;
    let num_labels = num_labels(head)?;
    let labels = u32_at(section, 4);
    if labels as u64 != num_labels as u64 {
        return Err(LabelsError::CountMismatch { labels: labels as u64, num_labels });
    }
    check_problem_type(head, problem_type)?;
    let names = core::str::from_utf8(&section[LABELS_HEADER_LEN..])
        .map_err(|e| LabelsError::NotUtf8 { valid_up_to: e.valid_up_to() })?;
    let found = names.bytes().filter(|&b| b == b'\n').count() + 1;
    if found != num_labels {
        return Err(LabelsError::NameCountMismatch { names: found, count: num_labels });
    }
    Ok(Labels { names, count: num_labels, problem_type })
}

/// Bytes of the labels section for `spec` on `head`, after every check a reader makes.
pub(crate) fn section_len(spec: &LabelsSpec, head: HeadKind) -> Result<usize, LabelsError> {
    let num_labels = num_labels(head)?;
    if spec.names.len() != num_labels {
        return Err(LabelsError::CountMismatch { labels: spec.names.len() as u64, num_labels });
    }
    if u32::try_from(num_labels).is_err() {
        return Err(LabelsError::TooLarge);
    }
    check_problem_type(head, spec.problem_type)?;
    let mut len = LABELS_HEADER_LEN;
    for (index, name) in spec.names.iter().enumerate() {
        if name.contains('\n') {
            return Err(LabelsError::NameWithNewline { index });
        }
        let separator = usize::from(index > 0);
        len = len.checked_add(name.len()).and_then(|l| l.checked_add(separator)).ok_or(LabelsError::TooLarge)?;
    }
    Ok(len)
}

/// Writes the section for `spec` into `out`, exactly [`section_len`] bytes (checked there first).
pub(crate) fn write_section(spec: &LabelsSpec, out: &mut [u8]) {
    let count = spec.names.len() as u32; // fits: section_len checked it
    out[0..4].copy_from_slice(&LABELS_VERSION.to_le_bytes());
    out[4..8].copy_from_slice(&count.to_le_bytes());
    out[8..12].copy_from_slice(&spec.problem_type.code().to_le_bytes());
    out[12..16].fill(0);
    let mut at = LABELS_HEADER_LEN;
    for (index, name) in spec.names.iter().enumerate() {
        if index > 0 {
            out[at] = b'\n';
            at += 1;
        }
        out[at..at + name.len()].copy_from_slice(name.as_bytes());
        at += name.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SST2: HeadKind = HeadKind::SequenceClassification { num_labels: 2 };

    fn section(spec: &LabelsSpec, head: HeadKind) -> std::vec::Vec<u8> {
        let mut out = std::vec![0xAA; section_len(spec, head).unwrap()];
        write_section(spec, &mut out);
        out
    }

    #[test]
    fn round_trip_with_empty_and_unicode_names() {
        let names = ["négatif", "", "😀 positive"];
        let head = HeadKind::TokenClassification { num_labels: 3 };
        let spec = LabelsSpec { names: &names, problem_type: ProblemType::SingleLabelClassification };
        let bytes = section(&spec, head);
        assert_eq!(bytes.len(), 16 + names.iter().map(|n| n.len()).sum::<usize>() + 2);
        let labels = parse(&bytes, head).unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels.iter().collect::<std::vec::Vec<_>>(), names);
        assert_eq!(labels.label(2), Some("😀 positive"));
        assert_eq!(labels.label(3), None);
        assert_eq!(labels.id(""), Some(1));
        assert!(!labels.is_regression());
    }

    #[test]
    fn regression_is_kept() {
        let spec = LabelsSpec { names: &["LABEL_0"], problem_type: ProblemType::Regression };
        let head = HeadKind::SequenceClassification { num_labels: 1 };
        let bytes = section(&spec, head);
        let labels = parse(&bytes, head).unwrap();
        assert!(labels.is_regression());
        assert_eq!(labels.label(0), Some("LABEL_0"));
    }

    #[test]
    fn writer_refuses_what_a_reader_would() {
        let spec =
            |names: &'static [&'static str]| LabelsSpec { names, problem_type: ProblemType::SingleLabelClassification };
        assert_eq!(section_len(&spec(&["a"]), SST2), Err(LabelsError::CountMismatch { labels: 1, num_labels: 2 }));
        assert_eq!(section_len(&spec(&["a", "b\nc"]), SST2), Err(LabelsError::NameWithNewline { index: 1 }));
        let rtd = HeadKind::ReplacedTokenDetection;
        assert_eq!(section_len(&spec(&["a"]), rtd), Err(LabelsError::NotAClassifier { head: rtd }));
        let tok = HeadKind::TokenClassification { num_labels: 1 };
        let reg = LabelsSpec { names: &["a"], problem_type: ProblemType::Regression };
        assert_eq!(
            section_len(&reg, tok),
            Err(LabelsError::ProblemTypeNotForTokens { problem_type: ProblemType::Regression })
        );
    }

    #[test]
    fn reader_refuses_damage() {
        let good = section(
            &LabelsSpec { names: &["negative", "positive"], problem_type: ProblemType::SingleLabelClassification },
            SST2,
        );
        let edit = |at: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            parse(&b, SST2).map(|l| l.len())
        };
        assert_eq!(parse(&good[..15], SST2), Err(LabelsError::TooShort { len: 15 }));
        assert_eq!(edit(0, &2u32.to_le_bytes()), Err(LabelsError::NewerVersion { found: 2, supported: 1 }));
        assert_eq!(edit(0, &0u32.to_le_bytes()), Err(LabelsError::UnknownVersion { found: 0 }));
        assert_eq!(edit(4, &3u32.to_le_bytes()), Err(LabelsError::CountMismatch { labels: 3, num_labels: 2 }));
        assert_eq!(edit(8, &7u32.to_le_bytes()), Err(LabelsError::UnknownProblemType { found: 7 }));
        assert_eq!(edit(12, &[1]), Err(LabelsError::ReservedNotZero));
        assert_eq!(edit(16 + 3, b"\n"), Err(LabelsError::NameCountMismatch { names: 3, count: 2 }));
        assert_eq!(edit(16 + 8, b"_"), Err(LabelsError::NameCountMismatch { names: 1, count: 2 }));
        assert_eq!(edit(16 + 1, &[0xff]), Err(LabelsError::NotUtf8 { valid_up_to: 1 }));
        let tok = HeadKind::TokenClassification { num_labels: 2 };
        let mut multi = good.clone();
        multi[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            parse(&multi, tok),
            Err(LabelsError::ProblemTypeNotForTokens { problem_type: ProblemType::MultiLabelClassification })
        );
        assert_eq!(parse(&good, HeadKind::MaskedLm), Err(LabelsError::NotAClassifier { head: HeadKind::MaskedLm }));
        assert_eq!(parse(&good, SST2).map(|l| l.len()), Ok(2));
    }
}
