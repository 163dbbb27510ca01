//! The file readers: GLUE TSV, CSV, JSON lines and Parquet for text tasks, CoNLL for tagging.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::Array;
use arrow_schema::DataType;
use electra_pipeline::parquet_guard::{catch_decoder_panic, check_any_row_group, check_footer};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::{Columns, DataError, RawLabel, TaggedSentence, Task, TextExample, MAX_LINE_BYTES};

/// Rows decoded at a time from Parquet.
const PARQUET_BATCH_ROWS: usize = 1024;

/// Sentence-pair columns in the order they are tried: GLUE's TSV names, then HF datasets' and common ones.
const PAIRS: &[(&str, &str)] = &[
    ("text_a", "text_b"),
    ("sentence1", "sentence2"),
    ("question1", "question2"),
    ("#1 String", "#2 String"),
    ("premise", "hypothesis"),
    ("question", "sentence"),
    ("sentence_a", "sentence_b"),
    ("text1", "text2"),
];

/// Single-text columns in the order they are tried.
const SINGLES: &[&str] = &["text", "sentence", "text_a", "sentence1", "review", "content", "document"];

/// Label columns tried after the task's own.
const LABELS: &[&str] = &["label", "labels", "score", "gold_label", "class", "target"];

/// The task's own pair columns, tried before [`PAIRS`] (QNLI's `question`/`sentence` would otherwise lose to
/// nothing, but MRPC's and MNLI's need to win over a stray `sentence` column).
fn task_pair(task: Task) -> Option<(&'static str, &'static str)> {
    match task {
        Task::Mrpc => Some(("#1 String", "#2 String")),
        Task::Rte | Task::Mnli | Task::Stsb => Some(("sentence1", "sentence2")),
        Task::Qnli => Some(("question", "sentence")),
        Task::Qqp => Some(("question1", "question2")),
        _ => None,
    }
}

/// The task's own label columns: GLUE's TSV header names.
fn task_labels(task: Task) -> &'static [&'static str] {
    match task {
        Task::Mrpc => &["Quality"],
        Task::Qqp => &["is_duplicate"],
        Task::Mnli => &["gold_label"],
        Task::Stsb => &["score"],
        _ => &[],
    }
}

enum Format {
    Tsv,
    Csv,
    JsonLines,
    Parquet,
}

fn format(path: &Path) -> Result<Format, DataError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("tsv") => Ok(Format::Tsv),
        Some("csv") => Ok(Format::Csv),
        Some("jsonl" | "json" | "ndjson") => Ok(Format::JsonLines),
        Some("parquet" | "pq") => Ok(Format::Parquet),
        _ => Err(DataError::UnknownFormat { path: path.to_owned() }),
    }
}

/// Reads a text-classification file (format from its extension: `.tsv`, `.csv`, `.jsonl`/`.json`, `.parquet`),
/// finding its columns as `columns` says or by the task's and common names. [`Task::Tagging`] reads as
/// [`Task::Custom`] here (tagging files go through [`read_tagged`]).
pub fn read_text_examples(path: &Path, task: Task, columns: &Columns) -> Result<Vec<TextExample>, DataError> {
    read_text_source(Source { path, bytes: None }, task, columns)
}

/// [`read_text_examples`] on a file's contents already in memory: `path` gives the format (its extension) and
/// names the file in errors. The text formats only (TSV, CSV, JSON lines): Parquet, read column-wise from its
/// file, is refused here as [`DataError::UnknownFormat`]. The readers are the ones [`read_text_examples`] runs,
/// so that a fuzzer feeding bytes exercises the CLI's parsing without a file write per input.
pub fn read_text_examples_from_bytes(
    path: &Path,
    bytes: &[u8],
    task: Task,
    columns: &Columns,
) -> Result<Vec<TextExample>, DataError> {
    if matches!(format(path)?, Format::Parquet) {
        return Err(DataError::UnknownFormat { path: path.to_owned() });
    }
    read_text_source(Source { path, bytes: Some(bytes) }, task, columns)
}

fn read_text_source(src: Source<'_>, task: Task, columns: &Columns) -> Result<Vec<TextExample>, DataError> {
    let path = src.path;
    let examples = match format(path)? {
        Format::Tsv => read_delimited(src, task, columns, Sep::Tab)?,
        // The STS benchmark's own `sts-*.csv` are tab-separated: a first line with more tabs than commas is TSV.
        Format::Csv => read_delimited(src, task, columns, csv_separator(src)?)?,
        Format::JsonLines => read_jsonl(src, task, columns)?,
        Format::Parquet => read_parquet(path, task, columns)?,
    };
    if examples.is_empty() {
        return Err(DataError::Empty { path: path.to_owned() });
    }
    Ok(examples)
}

/// Reads CoNLL: `word … tag` per line, whitespace-separated, a blank line between sentences, `-DOCSTART-` lines
/// skipped (they end a sentence). The tag is column `tag_column` (0-based), default the last.
pub fn read_tagged(path: &Path, tag_column: Option<usize>) -> Result<Vec<TaggedSentence>, DataError> {
    read_tagged_source(Source { path, bytes: None }, tag_column)
}

/// [`read_tagged`] on a file's contents already in memory; `path` names the file in errors.
pub fn read_tagged_from_bytes(
    path: &Path,
    bytes: &[u8],
    tag_column: Option<usize>,
) -> Result<Vec<TaggedSentence>, DataError> {
    read_tagged_source(Source { path, bytes: Some(bytes) }, tag_column)
}

fn read_tagged_source(src: Source<'_>, tag_column: Option<usize>) -> Result<Vec<TaggedSentence>, DataError> {
    let path = src.path;
    let mut lines = src.lines()?;
    let malformed = |line, message: String| DataError::MalformedConll { path: path.to_owned(), line, message };
    let mut sentences = Vec::new();
    let mut current: Option<TaggedSentence> = None;
    while let Some((line, text)) = lines.next_line()? {
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        let Some((&word, rest)) = fields.split_first().filter(|(w, _)| **w != "-DOCSTART-") else {
            sentences.extend(current.take());
            continue;
        };
        let tag = match (tag_column, rest.last()) {
            (_, None) => {
                return Err(malformed(line, format!("one column (`{word}`) where a word and its tag were expected")))
            }
            (None, Some(tag)) => tag,
            (Some(0), Some(_)) => return Err(malformed(line, "tag column 0 is the word column".to_owned())),
            (Some(c), Some(_)) => fields.get(c).ok_or_else(|| {
                malformed(line, format!("tag column {c} is out of range: the line has {} columns", fields.len()))
            })?,
        };
        let sentence = current.get_or_insert_with(|| TaggedSentence { words: Vec::new(), tags: Vec::new(), line });
        sentence.words.push(word.to_owned());
        sentence.tags.push((*tag).to_owned());
    }
    sentences.extend(current);
    if sentences.is_empty() {
        return Err(DataError::Empty { path: path.to_owned() });
    }
    Ok(sentences)
}

/// What a text reader reads: the file at `path`, or (`bytes`) its contents already in memory. Either way `path`
/// names the file in errors.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a Path,
    bytes: Option<&'a [u8]>,
}

impl<'a> Source<'a> {
    /// The lines from the start (a file is opened anew each time: the CSV separator check reads it twice).
    fn lines(self) -> Result<Lines<'a>, DataError> {
        let reader: Box<dyn BufRead + 'a> = match self.bytes {
            Some(bytes) => Box::new(bytes),
            None => {
                let file =
                    File::open(self.path).map_err(|source| DataError::Io { path: self.path.to_owned(), source })?;
                Box::new(BufReader::new(file))
            }
        };
        Ok(Lines { reader, path: self.path.to_owned(), line: 0, buf: Vec::new() })
    }
}

/// Physical lines of a text file, without their terminators, checked for length and UTF-8; a UTF-8 BOM on the
/// first line (MRPC's files) is dropped.
struct Lines<'a> {
    reader: Box<dyn BufRead + 'a>,
    path: PathBuf,
    line: usize,
    buf: Vec<u8>,
}

impl Lines<'_> {
    /// The next line and its 1-based number.
    fn next_line(&mut self) -> Result<Option<(usize, &str)>, DataError> {
        self.buf.clear();
        // Reads at most the limit plus "\r\n": a longer line is refused before it is buffered.
        let limit = MAX_LINE_BYTES as u64 + 2;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| DataError::Io { path: self.path.clone(), source })?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(DataError::LineTooLong { path: self.path.clone(), line: self.line, limit: MAX_LINE_BYTES });
        }
        let mut bytes = &self.buf[..];
        if self.line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| DataError::InvalidUtf8 { path: self.path.clone(), line: self.line })?;
        Ok(Some((self.line, text)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sep {
    /// GLUE's TSV: split on tabs, no quoting (QQP and MNLI hold stray `"` that are text).
    Tab,
    /// RFC 4180: `"` quotes fields that hold commas, newlines or `""` (a literal quote).
    Comma,
}

fn csv_separator(src: Source<'_>) -> Result<Sep, DataError> {
    let mut lines = src.lines()?;
    while let Some((_, text)) = lines.next_line()? {
        if !text.is_empty() {
            let count = |c| text.bytes().filter(|&b| b == c).count();
            return Ok(if count(b'\t') > count(b',') { Sep::Tab } else { Sep::Comma });
        }
    }
    Ok(Sep::Comma)
}

/// Records of a TSV or CSV file, with the line each starts on; empty lines are skipped.
struct Rows<'a> {
    lines: Lines<'a>,
    sep: Sep,
}

impl Rows<'_> {
    fn next_row(&mut self) -> Result<Option<(usize, Vec<String>)>, DataError> {
        loop {
            let Some((line, text)) = self.lines.next_line()? else { return Ok(None) };
            if text.is_empty() {
                continue;
            }
            return match self.sep {
                Sep::Tab => Ok(Some((line, text.split('\t').map(str::to_owned).collect()))),
                Sep::Comma => {
                    let text = text.to_owned();
                    self.csv_record(line, text).map(Some)
                }
            };
        }
    }

    /// One CSV record starting with `text` (line `start`), reading more lines while a quoted field is open. Like
    /// Python's `csv`, a quote inside an unquoted field, or after a closing quote, is kept as text.
    fn csv_record(&mut self, start: usize, mut text: String) -> Result<(usize, Vec<String>), DataError> {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut at_field_start = true;
        let mut record_bytes = text.len();
        loop {
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                if quoted {
                    if c != '"' {
                        field.push(c);
                    } else if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else if c == ',' {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                } else if c == '"' && at_field_start {
                    quoted = true;
                    at_field_start = false;
                } else {
                    field.push(c);
                    at_field_start = false;
                }
            }
            if !quoted {
                fields.push(field);
                return Ok((start, fields));
            }
            field.push('\n');
            let path = &self.lines.path;
            let unterminated = DataError::UnterminatedQuote { path: path.clone(), line: start };
            let Some((_, next)) = self.lines.next_line()? else { return Err(unterminated) };
            record_bytes += next.len() + 1;
            if record_bytes > MAX_LINE_BYTES {
                let path = self.lines.path.clone();
                return Err(DataError::LineTooLong { path, line: start, limit: MAX_LINE_BYTES });
            }
            text = next.to_owned();
        }
    }
}

/// Where an example's fields are: indices into a row, or into the list of column names.
#[derive(Clone, Copy, Debug)]
struct Layout {
    a: usize,
    b: Option<usize>,
    label: Option<usize>,
}

impl Layout {
    fn fields_needed(&self) -> usize {
        self.a.max(self.b.unwrap_or(0)).max(self.label.unwrap_or(0)) + 1
    }

    fn columns(&self) -> Vec<usize> {
        let mut columns: Vec<usize> = [Some(self.a), self.b, self.label].into_iter().flatten().collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }
}

fn spec_index(spec: &str) -> Option<usize> {
    spec.trim().parse().ok()
}

/// Exact name first, then ignoring ASCII case and surrounding spaces.
fn find_name(names: &[String], want: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n == want)
        .or_else(|| names.iter().position(|n| n.trim().eq_ignore_ascii_case(want.trim())))
}

/// Finds the columns in a file with named columns. `allow_index`: a spec that names no column may be an index
/// (Parquet; JSON objects have no column order).
fn layout_by_name(
    path: &Path,
    task: Task,
    columns: &Columns,
    names: &[String],
    allow_index: bool,
) -> Result<Layout, DataError> {
    let missing = |column: &str| DataError::MissingColumn {
        path: path.to_owned(),
        column: column.to_owned(),
        found: names.to_vec(),
    };
    let given = |spec: &str| {
        find_name(names, spec)
            .or_else(|| spec_index(spec).filter(|&i| allow_index && i < names.len()))
            .ok_or_else(|| missing(spec))
    };
    let any = |candidates: &[&str]| candidates.iter().find_map(|c| find_name(names, c));
    let pairs = || task_pair(task).into_iter().chain(PAIRS.iter().copied());
    let complete_pair = || pairs().find_map(|(a, b)| Some((find_name(names, a)?, find_name(names, b)?)));
    // The second column that goes with a first one found or given.
    let partner = |a: usize| {
        pairs().find(|(x, _)| names[a].trim().eq_ignore_ascii_case(x)).and_then(|(_, y)| find_name(names, y))
    };
    let task_singles: &[&str] = match task {
        Task::Sst2 => &["sentence", "text"],
        Task::Cola => &["sentence"],
        _ => &[],
    };
    let (a, b) = match (&columns.text_a, &columns.text_b) {
        (Some(spec_a), spec_b) => {
            let a = given(spec_a)?;
            let b = match (spec_b, task.is_pair()) {
                (Some(spec_b), _) => Some(given(spec_b)?),
                (None, Some(true)) => {
                    let wanted = task_pair(task).map_or("text_b", |(_, b)| b);
                    Some(partner(a).or_else(|| find_name(names, wanted)).ok_or_else(|| missing(wanted))?)
                }
                (None, None) => partner(a),
                (None, Some(false)) => None,
            };
            (a, b)
        }
        (None, Some(spec_b)) => {
            let b = given(spec_b)?;
            let firsts: Vec<&str> = pairs().map(|(a, _)| a).collect();
            let a =
                any(&firsts).or_else(|| any(task_singles)).or_else(|| any(SINGLES)).ok_or_else(|| missing("text_a"))?;
            (a, Some(b))
        }
        (None, None) => match task.is_pair() {
            Some(true) => match complete_pair() {
                Some((a, b)) => (a, Some(b)),
                None => {
                    let (want_a, want_b) = task_pair(task).unwrap_or(("text_a", "text_b"));
                    return Err(missing(if find_name(names, want_a).is_some() { want_b } else { want_a }));
                }
            },
            Some(false) => {
                let a = any(task_singles).or_else(|| any(SINGLES));
                (a.ok_or_else(|| missing(task_singles.first().copied().unwrap_or("text")))?, None)
            }
            None => match complete_pair() {
                Some((a, b)) => (a, Some(b)),
                None => (any(SINGLES).ok_or_else(|| missing("text"))?, None),
            },
        },
    };
    let label = match &columns.label {
        Some(spec) => Some(given(spec)?),
        None => any(task_labels(task)).or_else(|| any(LABELS)),
    };
    Ok(Layout { a, b, label })
}

/// Columns of a headerless file: given by index (CoLA's default: sentence 3, label 1).
fn layout_by_index(path: &Path, task: Task, columns: &Columns) -> Result<Layout, DataError> {
    let missing =
        |column: &str| DataError::MissingColumn { path: path.to_owned(), column: column.to_owned(), found: Vec::new() };
    let index = |spec: &str| spec_index(spec).ok_or_else(|| missing(spec));
    let cola = task == Task::Cola;
    let a = match &columns.text_a {
        Some(spec) => index(spec)?,
        None if cola => 3,
        None => return Err(missing("text_a")),
    };
    let b = match &columns.text_b {
        Some(spec) => Some(index(spec)?),
        None if task.is_pair() == Some(true) => return Err(missing("text_b")),
        None => None,
    };
    let label = match &columns.label {
        Some(spec) => Some(index(spec)?),
        None if cola => Some(1),
        None => None,
    };
    Ok(Layout { a, b, label })
}

/// Interprets one label cell: STS-B scores are parsed; for the GLUE classification tasks, HF datasets' integers
/// become GLUE's labels (-1, its unlabelled test rows, becomes `None`) and `1.0` becomes `1`. An empty cell is
/// unlabelled.
fn parse_label(path: &Path, task: Task, raw: &str, line: usize) -> Result<Option<RawLabel>, DataError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if task.is_regression() {
        return match raw.parse::<f32>() {
            Ok(x) if x.is_finite() => Ok(Some(RawLabel::Score(x))),
            _ => Err(DataError::BadScore { path: path.to_owned(), line, value: raw.to_owned() }),
        };
    }
    if matches!(task, Task::Custom | Task::Tagging) {
        return Ok(Some(RawLabel::Class(raw.to_owned())));
    }
    let integer = raw
        .parse::<i64>()
        .ok()
        .or_else(|| raw.parse::<f64>().ok().filter(|x| x.fract() == 0.0 && x.abs() < 1e15).map(|x| x as i64));
    let label = match (integer, task.hf_datasets_names()) {
        (Some(-1), _) => return Ok(None),
        (Some(i), Some(names)) => {
            usize::try_from(i).ok().and_then(|i| names.get(i)).map_or_else(|| raw.to_owned(), |s| (*s).to_owned())
        }
        (Some(i), None) => i.to_string(),
        (None, _) => raw.to_owned(),
    };
    Ok(Some(RawLabel::Class(label)))
}

fn example(
    path: &Path,
    task: Task,
    text_a: String,
    text_b: Option<String>,
    label: Option<&str>,
    line: usize,
) -> Result<TextExample, DataError> {
    let label = match label {
        Some(raw) => parse_label(path, task, raw, line)?,
        None => None,
    };
    Ok(TextExample { text_a, text_b, label, line })
}

/// TSV or CSV. A file is headerless when a column spec is an index, or for CoLA (GLUE ships its train and dev
/// files without a header) unless the first row has a `sentence` column (its test file). Rows of a file with a
/// header must have the header's field count; rows of a headerless file need the fields asked for (the STS
/// benchmark's rows have 7 or 9).
fn read_delimited(src: Source<'_>, task: Task, columns: &Columns, sep: Sep) -> Result<Vec<TextExample>, DataError> {
    let path = src.path;
    let mut rows = Rows { lines: src.lines()?, sep };
    let Some((first_line, first)) = rows.next_row()? else { return Ok(Vec::new()) };
    let specs = [&columns.text_a, &columns.text_b, &columns.label];
    let indexed = specs.iter().any(|s| s.as_deref().and_then(spec_index).is_some());
    let unnamed = specs.iter().all(|s| s.is_none());
    let cola_headerless =
        task == Task::Cola && unnamed && !first.iter().any(|f| f.trim().eq_ignore_ascii_case("sentence"));
    let (layout, header_fields, mut pending) = if indexed || cola_headerless {
        (layout_by_index(path, task, columns)?, None, Some((first_line, first)))
    } else {
        (layout_by_name(path, task, columns, &first, false)?, Some(first.len()), None)
    };
    let needed = layout.fields_needed();
    let mut examples = Vec::new();
    loop {
        let (line, fields) = match pending.take() {
            Some(row) => row,
            None => match rows.next_row()? {
                Some(row) => row,
                None => break,
            },
        };
        let expected = header_fields.unwrap_or(needed);
        if header_fields.map_or(fields.len() < needed, |n| fields.len() != n) {
            return Err(DataError::WrongFieldCount { path: path.to_owned(), line, expected, found: fields.len() });
        }
        let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
        let label = layout.label.map(field);
        examples.push(example(path, task, field(layout.a), layout.b.map(field), label.as_deref(), line)?);
    }
    Ok(examples)
}

/// JSON lines: one object per line; columns are found from the first object's keys.
fn read_jsonl(src: Source<'_>, task: Task, columns: &Columns) -> Result<Vec<TextExample>, DataError> {
    use serde_json::Value;
    let path = src.path;
    let mut lines = src.lines()?;
    let malformed = |line, message: String| DataError::MalformedJson { path: path.to_owned(), line, message };
    let mut names: Option<(String, Option<String>, Option<String>)> = None;
    let mut examples = Vec::new();
    while let Some((line, text)) = lines.next_line()? {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            Ok(Value::Array(_)) => {
                return Err(malformed(line, "a JSON array; expected JSON lines, one object per line".to_owned()))
            }
            Ok(_) => return Err(malformed(line, "expected a JSON object".to_owned())),
            Err(e) => return Err(malformed(line, e.to_string())),
        };
        let (a, b, label) = match &names {
            Some(names) => names,
            None => {
                let keys: Vec<String> = object.keys().cloned().collect();
                let layout = layout_by_name(path, task, columns, &keys, false)?;
                let name = |i: usize| keys[i].clone();
                names.insert((name(layout.a), layout.b.map(name), layout.label.map(name)))
            }
        };
        let text_of = |key: &str| match object.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(malformed(line, format!("field `{key}` is not a string"))),
            None => Err(malformed(line, format!("no field `{key}`"))),
        };
        let text_a = text_of(a)?;
        let text_b = b.as_deref().map(text_of).transpose()?;
        let label = match label.as_deref().map(|key| (key, object.get(key))) {
            None | Some((_, Some(Value::Null))) => None,
            Some((_, Some(Value::String(s)))) => Some(s.clone()),
            Some((_, Some(Value::Number(n)))) => Some(n.to_string()),
            Some((_, Some(Value::Bool(b)))) => Some(b.to_string()),
            Some((key, Some(_))) => return Err(malformed(line, format!("label `{key}` is not a string or number"))),
            Some((key, None)) => return Err(malformed(line, format!("no field `{key}`"))),
        };
        examples.push(example(path, task, text_a, text_b, label.as_deref(), line)?);
    }
    Ok(examples)
}

fn is_string_type(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_label_type(t: &DataType) -> bool {
    is_string_type(t) || t.is_integer() || matches!(t, DataType::Float32 | DataType::Float64 | DataType::Boolean)
}

/// Parquet (an HF datasets export, or any file with string text columns and an integer, float, boolean or string
/// label). Lines in errors and examples are 1-based rows.
fn read_parquet(path: &Path, task: Task, columns: &Columns) -> Result<Vec<TextExample>, DataError> {
    let err = |message: String| DataError::Parquet { path: path.to_owned(), message };
    let file = File::open(path).map_err(|source| DataError::Io { path: path.to_owned(), source })?;
    // Every call into the parquet crate on the file's bytes goes through the one guard
    // (electra_pipeline::parquet_guard): a panic inside it is this file's error too. The crate can also
    // loop on a crafted footer or page header (issue 17): both are walked, bounded, before it decodes.
    check_footer(&file).map_err(err)?;
    let checked = file.try_clone().map_err(|source| DataError::Io { path: path.to_owned(), source })?;
    let builder = catch_decoder_panic(|| ParquetRecordBatchReaderBuilder::try_new(file))
        .map_err(err)?
        .map_err(|e| err(e.to_string()))?;
    for row_group in 0..builder.metadata().num_row_groups() {
        check_any_row_group(&checked, builder.metadata(), row_group).map_err(err)?;
    }
    let fields = builder.schema().fields().clone();
    let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    let layout = layout_by_name(path, task, columns, &names, true)?;
    for (i, is_text) in [(Some(layout.a), true), (layout.b, true), (layout.label, false)] {
        let Some(field) = i.and_then(|i| fields.get(i)) else { continue };
        let ok = if is_text { is_string_type(field.data_type()) } else { is_label_type(field.data_type()) };
        if !ok {
            let wanted = if is_text { "a string" } else { "a string, integer, float or boolean" };
            return Err(err(format!("column `{}` is {}, not {wanted} column", field.name(), field.data_type())));
        }
    }
    let roots = layout.columns();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let mut reader = catch_decoder_panic(|| builder.with_projection(mask).with_batch_size(PARQUET_BATCH_ROWS).build())
        .map_err(err)?
        .map_err(|e| err(e.to_string()))?;
    // Projected columns keep the file's order.
    let at = |i: usize| roots.iter().position(|&r| r == i).unwrap_or_default();
    let mut examples = Vec::new();
    let mut row = 0usize;
    while let Some(batch) = catch_decoder_panic(|| reader.next()).map_err(err)? {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        if batch.num_columns() != roots.len() {
            return Err(err(format!("read {} columns where {} were asked for", batch.num_columns(), roots.len())));
        }
        let column_a = batch.column(at(layout.a));
        let column_b = layout.b.map(|b| batch.column(at(b)));
        let column_label = layout.label.map(|l| batch.column(at(l)));
        for r in 0..batch.num_rows() {
            row += 1;
            let text = |column: &dyn Array, name: usize| {
                cell_string(column, r).ok_or_else(|| err(format!("row {row}: column `{}` is null", names[name])))
            };
            let text_a = text(column_a.as_ref(), layout.a)?;
            let text_b = match (column_b, layout.b) {
                (Some(column), Some(b)) => Some(text(column.as_ref(), b)?),
                _ => None,
            };
            let label = column_label.and_then(|column| cell_label(column.as_ref(), r));
            examples.push(example(path, task, text_a, text_b, label.as_deref(), row)?);
        }
    }
    Ok(examples)
}

fn cell_string(column: &dyn Array, row: usize) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    match column.data_type() {
        DataType::Utf8 => column.as_string_opt::<i32>().map(|a| a.value(row).to_owned()),
        DataType::LargeUtf8 => column.as_string_opt::<i64>().map(|a| a.value(row).to_owned()),
        DataType::Utf8View => column.as_string_view_opt().map(|a| a.value(row).to_owned()),
        _ => None,
    }
}

/// A label cell as text; `None` when null.
fn cell_label(column: &dyn Array, row: usize) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    macro_rules! primitive {
        ($t:ty) => {
            column.as_primitive_opt::<$t>().map(|a| a.value(row).to_string())
        };
    }
    match column.data_type() {
        DataType::Int8 => primitive!(Int8Type),
        DataType::Int16 => primitive!(Int16Type),
        DataType::Int32 => primitive!(Int32Type),
        DataType::Int64 => primitive!(Int64Type),
        DataType::UInt8 => primitive!(UInt8Type),
        DataType::UInt16 => primitive!(UInt16Type),
        DataType::UInt32 => primitive!(UInt32Type),
        DataType::UInt64 => primitive!(UInt64Type),
        DataType::Float32 => primitive!(Float32Type),
        DataType::Float64 => primitive!(Float64Type),
        DataType::Boolean => column.as_boolean_opt().map(|a| a.value(row).to_string()),
        _ => cell_string(column, row),
    }
}
