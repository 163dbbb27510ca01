//! Corpus readers: directories and files of `.txt`, `.jsonl` and `.parquet`, each optionally `.gz`
//! or `.zst`, streamed as documents made of lines.
//!
//! The corpus is laid out on one line of *offsets*: each file gets the range `[start, start + size)`,
//! where `size` is its decompressed length (for Parquet, the uncompressed size of its text column).
//! Shards are equal slices of that line, and a shard owns the lines (JSONL records, Parquet row groups)
//! that *start* in its slice. This makes the split of the corpus into shards and across workers a pure
//! function of the file list and sizes, and lets any shard be rebuilt alone. A `.txt` document that
//! straddles a slice boundary is cut in two there.
//!
//! Memory stays bounded: files are streamed line by line (a line is at most
//! [`lines::MAX_LINE_BYTES`]), Parquet inputs one row group at a time.

mod error;
pub(crate) mod lines;
mod parquet_input;
mod text;

use std::path::{Path, PathBuf};

pub use error::CorpusError;
pub use lines::{append_record_line, read_record_line, RecordLine, MAX_LINE_BYTES, MAX_RECORD_LINE_BYTES};
pub use parquet_input::ParquetLayout;

use lines::LineStream;

/// How a file's text is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Jsonl,
    Parquet,
}

/// Whole-file compression, from the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Format and compression from a file name (`a.txt`, `b.jsonl.gz`, `c.parquet.zst`), or `None`.
pub fn detect(path: &Path) -> Option<(Format, Compression)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, compression) = if let Some(s) = name.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = name.strip_suffix(".zst").or_else(|| name.strip_suffix(".zstd")) {
        (s, Compression::Zstd)
    } else {
        (name.as_str(), Compression::None)
    };
    let format = if stem.ends_with(".txt") {
        Format::Text
    } else if stem.ends_with(".jsonl") {
        Format::Jsonl
    } else if stem.ends_with(".parquet") {
        Format::Parquet
    } else {
        return None;
    };
    Some((format, compression))
}

/// One input file and its place on the corpus's offset line.
#[derive(Clone, Debug)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: Format,
    pub compression: Compression,
    /// Length on the offset line (decompressed bytes; for Parquet, the text column's uncompressed size).
    pub size: u64,
    /// Offset of the file's first byte on the corpus's offset line.
    pub start: u64,
    parquet: Option<ParquetLayout>,
    /// The decompressed copy read in place of a compressed Parquet file.
    decompressed: Option<parquet_input::DecompressedCopy>,
}

impl InputFile {
    fn read_path(&self) -> &Path {
        match &self.decompressed {
            Some(copy) => copy.as_ref(),
            None => &self.path,
        }
    }
}

/// Receives documents as they are read.
pub trait DocSink {
    /// One non-blank, trimmed line of the current document.
    fn line(&mut self, text: &str) -> Result<(), CorpusError>;
    /// The current document (if any) ended: a blank line, the end of a record, of a file or of the range.
    fn end_document(&mut self) -> Result<(), CorpusError>;
    /// A line was not valid UTF-8 and was decoded lossily.
    fn bad_line(&mut self);
    /// A record had no usable text and was skipped; `location` says where (`byte offset N`, `row N`).
    fn skipped_record(&mut self, path: &Path, location: &str, why: &str);
    /// `bytes` more of the input were read (for progress and throughput).
    fn consumed(&mut self, bytes: u64);
}

/// The input files in a fixed order, each with its size.
#[derive(Debug)]
pub struct Corpus {
    pub files: Vec<InputFile>,
    pub total_size: u64,
    pub text_field: String,
    /// Files inside the given directories that were passed over (unknown extension), and one example.
    pub ignored_files: usize,
    pub ignored_example: Option<PathBuf>,
}

impl Corpus {
    /// Lists the inputs (files, and directories walked recursively in sorted order, hidden entries
    /// skipped) in the order given, and measures every file. Compressed `.txt`/`.jsonl` files are
    /// decompressed once to learn their size; compressed Parquet files are decompressed to a temporary
    /// file that lives as long as the `Corpus`. Files are measured in parallel on the current rayon pool.
    pub fn discover(inputs: &[PathBuf], text_field: &str) -> Result<Self, CorpusError> {
        use rayon::prelude::*;
        let mut listed: Vec<(PathBuf, Format, Compression)> = Vec::new();
        let mut ignored_files = 0usize;
        let mut ignored_example = None;
        for input in inputs {
            let meta = std::fs::metadata(input).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => CorpusError::NotFound { path: input.clone() },
                _ => CorpusError::io(input, e),
            })?;
            if meta.is_dir() {
                let mut found = Vec::new();
                walk(input, &mut found)?;
                found.sort();
                for path in found {
                    match detect(&path) {
                        Some((f, c)) => listed.push((path, f, c)),
                        None => {
                            ignored_files += 1;
                            ignored_example.get_or_insert(path);
                        }
                    }
                }
            } else {
                let (f, c) = detect(input).ok_or_else(|| CorpusError::UnknownFormat { path: input.clone() })?;
                listed.push((input.clone(), f, c));
            }
        }
        if listed.is_empty() {
            return Err(CorpusError::NoInput { inputs: inputs.to_vec() });
        }
        let mut files = listed
            .into_par_iter()
            .map(|(path, format, compression)| measure(path, format, compression, text_field))
            .collect::<Result<Vec<_>, _>>()?;
        let mut at = 0u64;
        for f in &mut files {
            f.start = at;
            at += f.size;
        }
        Ok(Corpus { files, total_size: at, text_field: text_field.to_string(), ignored_files, ignored_example })
    }

    /// Start offset of shard `shard` of `num_shards` equal slices (`shard == num_shards` gives the end).
    pub fn slice_start(&self, shard: usize, num_shards: usize) -> u64 {
        // ceil(shard * total / num_shards), in 128 bits so that no corpus size overflows.
        let n = num_shards.max(1) as u128;
        ((shard as u128 * self.total_size as u128).div_ceil(n)) as u64
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CorpusError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| CorpusError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links, like `find -L`.
        let meta = std::fs::metadata(&path).map_err(|e| CorpusError::io(&path, e))?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

fn measure(
    path: PathBuf,
    format: Format,
    compression: Compression,
    text_field: &str,
) -> Result<InputFile, CorpusError> {
    let mut file = InputFile { path, format, compression, size: 0, start: 0, parquet: None, decompressed: None };
    match format {
        Format::Text | Format::Jsonl => {
            file.size = lines::decompressed_len(&file.path, compression)?;
        }
        Format::Parquet => {
            if compression != Compression::None {
                let mut reader = lines::open_decompressed(&file.path, compression)?;
                let mut tmp = tempfile::NamedTempFile::new().map_err(|e| CorpusError::io(&file.path, e))?;
                std::io::copy(&mut reader, tmp.as_file_mut()).map_err(|e| CorpusError::io(&file.path, e))?;
                file.decompressed = Some(std::sync::Arc::new(tmp.into_temp_path()));
            }
            let layout = parquet_input::plan(file.read_path(), &file.path, text_field)?;
            file.size = layout.total();
            file.parquet = Some(layout);
        }
    }
    Ok(file)
}

/// Reads slices of a [`Corpus`] in order, keeping the current file open between consecutive slices so
/// that a compressed file is decompressed once, not once per shard.
pub struct CorpusCursor<'c> {
    corpus: &'c Corpus,
    /// The open line stream and the index of its file.
    open: Option<(usize, LineStream)>,
}

impl<'c> CorpusCursor<'c> {
    pub fn new(corpus: &'c Corpus) -> Self {
        CorpusCursor { corpus, open: None }
    }

    /// Delivers every document whose lines start in `[start, end)` on the offset line. Each file's
    /// part ends with [`DocSink::end_document`].
    pub fn read_slice(&mut self, start: u64, end: u64, sink: &mut dyn DocSink) -> Result<(), CorpusError> {
        let corpus: &'c Corpus = self.corpus;
        let files = &corpus.files;
        let first = files.partition_point(|f| f.start + f.size <= start);
        for (index, file) in files.iter().enumerate().skip(first) {
            if file.start >= end {
                break;
            }
            if file.size == 0 {
                continue;
            }
            let lo = start.saturating_sub(file.start);
            let hi = (end - file.start).min(file.size);
            match file.format {
                Format::Parquet => {
                    let layout = file.parquet.as_ref().ok_or_else(|| CorpusError::Parquet {
                        path: file.path.clone(),
                        message: "Parquet input was not planned".into(),
                    })?;
                    parquet_input::read_range(file.read_path(), &file.path, layout, lo, hi, sink)?;
                    sink.end_document()?;
                }
                Format::Text | Format::Jsonl => {
                    let stream = self.stream_at(index, lo)?;
                    if file.format == Format::Text {
                        text::read_text(stream, &file.path, hi, sink)?;
                    } else {
                        text::read_jsonl(stream, &file.path, hi, &corpus.text_field, sink)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The line stream of file `index`, positioned at the first line starting at or after `offset`.
    fn stream_at(&mut self, index: usize, offset: u64) -> Result<&mut LineStream, CorpusError> {
        let file = &self.corpus.files[index];
        let reusable = matches!(&self.open, Some((i, s)) if *i == index && s.pos() <= offset);
        if reusable {
            if let Some((_, stream)) = self.open.as_mut() {
                stream.skip_to(&file.path, offset)?;
            }
        } else {
            self.open = Some((index, LineStream::open_at(&file.path, file.compression, offset)?));
        }
        match self.open.as_mut() {
            Some((_, stream)) => Ok(stream),
            None => Err(CorpusError::Cancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(detect(Path::new("a/b.txt")), Some((Format::Text, Compression::None)));
        assert_eq!(detect(Path::new("b.JSONL.gz")), Some((Format::Jsonl, Compression::Gzip)));
        assert_eq!(detect(Path::new("c.parquet.zst")), Some((Format::Parquet, Compression::Zstd)));
        assert_eq!(detect(Path::new("c.txt.zstd")), Some((Format::Text, Compression::Zstd)));
        assert_eq!(detect(Path::new("README")), None);
        assert_eq!(detect(Path::new("x.csv.gz")), None);
    }
}
