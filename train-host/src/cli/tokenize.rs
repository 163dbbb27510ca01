//! `electra tokenize`: JSON lines `{"text": ...}` in, `{"ids": [...]}` out (no special tokens), same order,
//! all cores. Input is read in chunks of whole lines; each chunk is tokenized in parallel and written in order.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use electra_pipeline::atomic_file::write_atomically;
use electra_pipeline::corpus::{append_record_line, RecordLine, MAX_RECORD_LINE_BYTES};
use electra_pipeline::tokenizer::HostTokenizer;
use rayon::prelude::*;

/// Lines are read and tokenized in chunks of about this many bytes (enough work to spread over every core).
const CHUNK_BYTES: usize = 8 << 20;
/// Inputs at least this large get a progress bar on stderr.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// Arguments of `electra tokenize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// BERT `vocab.txt` [default: the bundled BERT uncased vocab]
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// JSON lines, each `{"text": "..."}` [default: stdin]
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// JSON lines written here, each `{"ids": [...]}`, written atomically [default: stdout]
    #[arg(long, alias = "output")]
    pub out: Option<PathBuf>,
    /// Worker threads [default: all cores]
    #[arg(long)]
    pub threads: Option<usize>,
}

/// A problem with the JSON lines input or output.
#[derive(Debug)]
pub enum JsonlError {
    /// Reading the input failed.
    Read {
        /// Input name (`stdin` or the file).
        input: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the output failed.
    Write {
        /// The underlying error.
        source: io::Error,
    },
    /// A line is not UTF-8.
    InvalidUtf8 {
        /// 1-based line number.
        line: u64,
    },
    /// A line is not a JSON object with a string field `text`.
    BadLine {
        /// 1-based line number.
        line: u64,
        /// What the JSON parser said.
        message: String,
    },
    /// A line is longer than `max` bytes (`MAX_RECORD_LINE_BYTES`); it was not read past that.
    TooLong {
        /// Input name (`stdin` or the file).
        input: String,
        /// 1-based line number.
        line: u64,
        /// The limit, in bytes.
        max: usize,
    },
}

impl fmt::Display for JsonlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { input, source } => write!(f, "reading {input}: {source}"),
            Self::Write { source } => write!(f, "writing the output: {source}"),
            Self::InvalidUtf8 { line } => write!(f, "line {line}: not valid UTF-8"),
            Self::BadLine { line, message } => {
                write!(f, "line {line}: expected a JSON object with a \"text\" string: {message}")
            }
            Self::TooLong { input, line, max } => {
                write!(f, "{input}: line {line} is longer than {} MiB, the most one input line may hold", max >> 20)
            }
        }
    }
}

impl std::error::Error for JsonlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } | Self::Write { source } => Some(source),
            _ => None,
        }
    }
}

#[derive(serde::Deserialize)]
struct TextLine<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// Counts from one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read (= lines written).
    pub lines: u64,
    /// Input bytes.
    pub bytes: u64,
    /// Token ids written.
    pub tokens: u64,
}

/// Appends `{"ids":[...]}\n`.
fn write_ids(out: &mut Vec<u8>, ids: &[u32]) {
    out.extend_from_slice(b"{\"ids\":[");
    for (i, &id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut digits = [0u8; 10];
        let mut n = id;
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[at..]);
    }
    out.extend_from_slice(b"]}\n");
}

/// One input line (without its `\n`) to one output line.
fn tokenize_line(tok: &HostTokenizer, line_no: u64, line: &[u8], out: &mut Vec<u8>) -> Result<usize, JsonlError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| JsonlError::InvalidUtf8 { line: line_no })?;
    let parsed: TextLine<'_> = serde_json::from_str(line).map_err(|e| {
        // serde_json says "at line 1 column N" of the one-line document; keep only the column.
        let full = e.to_string();
        let what = full.rsplit_once(" at line ").map_or(full.as_str(), |(what, _)| what);
        JsonlError::BadLine { line: line_no, message: format!("{what} (column {})", e.column()) }
    })?;
    let mut ids = Vec::with_capacity(parsed.text.len() / 4 + 4);
    tok.tokenizer().for_each_id(&parsed.text, |id| ids.push(id));
    write_ids(out, &ids);
    Ok(ids.len())
}

/// Tokenizes every line of `input` into `output` in order, `threads`-wide (the current rayon pool).
/// `on_progress` gets the input bytes consumed after each chunk.
pub fn tokenize_jsonl(
    tok: &HostTokenizer,
    input_name: &str,
    mut input: impl BufRead,
    mut output: impl Write,
    mut on_progress: impl FnMut(u64),
) -> Result<Stats, JsonlError> {
    let mut stats = Stats::default();
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + (1 << 16));
    loop {
        chunk.clear();
        let mut lines_read = 0u64;
        while chunk.len() < CHUNK_BYTES {
            // Each line straight into the chunk: one copy from the reader's buffer, none through a line buffer.
            let found = append_record_line(&mut input, &mut chunk, MAX_RECORD_LINE_BYTES)
                .map_err(|source| JsonlError::Read { input: input_name.to_owned(), source })?;
            match found {
                RecordLine::End => break,
                RecordLine::TooLong => {
                    let line = stats.lines + lines_read + 1;
                    return Err(JsonlError::TooLong { input: input_name.to_owned(), line, max: MAX_RECORD_LINE_BYTES });
                }
                RecordLine::Line => {
                    chunk.push(b'\n');
                    lines_read += 1;
                }
            }
        }
        if chunk.is_empty() {
            break;
        }
        let body = chunk.strip_suffix(b"\n").unwrap_or(&chunk);
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        let first_line = stats.lines + 1;
        // Workers take runs of lines; each run's output is one buffer, so order is kept by position.
        let per_task = (lines.len() / (rayon::current_num_threads() * 8)).max(64);
        let results: Vec<Result<(Vec<u8>, u64), JsonlError>> = lines
            .par_chunks(per_task)
            .enumerate()
            .map(|(task, run)| {
                let mut out = Vec::with_capacity(run.iter().map(|l| l.len()).sum::<usize>() + 16);
                let mut tokens = 0u64;
                for (k, line) in run.iter().enumerate() {
                    let line_no = first_line + (task * per_task + k) as u64;
                    tokens += tokenize_line(tok, line_no, line, &mut out)? as u64;
                }
                Ok((out, tokens))
            })
            .collect();
        for result in results {
            let (out, tokens) = result?;
            output.write_all(&out).map_err(|source| JsonlError::Write { source })?;
            stats.tokens += tokens;
        }
        stats.lines += lines.len() as u64;
        stats.bytes += chunk.len() as u64;
        on_progress(stats.bytes);
    }
    output.flush().map_err(|source| JsonlError::Write { source })?;
    Ok(stats)
}

/// Runs `electra tokenize`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("cannot start worker threads")?;
    }
    let (vocab, source) = super::resolve_vocab(args.vocab.as_deref(), None, None)?;
    let tok = HostTokenizer::from_bytes(vocab).with_context(|| source.to_string())?;

    let (input_name, input, input_len): (String, Box<dyn Read>, Option<u64>) = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata().ok().map(|m| m.len());
            (path.display().to_string(), Box::new(file), len)
        }
        None => ("stdin".to_owned(), Box::new(io::stdin().lock()), None),
    };
    let input = BufReader::with_capacity(1 << 20, input);

    let progress = match input_len {
        Some(len) if len >= PROGRESS_MIN_BYTES => {
            let bar = indicatif::ProgressBar::new(len);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Some(bar)
        }
        _ => None,
    };
    let on_progress = |bytes: u64| {
        if let Some(bar) = &progress {
            bar.set_position(bytes);
        }
    };

    let start = Instant::now();
    let stats = match &args.out {
        Some(path) => {
            // Only a complete output ever appears under its name (the project's one atomic writer).
            write_atomically::<_, anyhow::Error>(path, |out| {
                tokenize_jsonl(&tok, &input_name, input, out, on_progress).with_context(|| input_name.clone())
            })?
        }
        None => {
            let stdout = io::stdout().lock();
            tokenize_jsonl(&tok, &input_name, input, BufWriter::with_capacity(1 << 20, stdout), on_progress)
                .with_context(|| input_name.clone())?
        }
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "tokenized {} lines, {} tokens, {:.1} MB in {secs:.2} s ({:.1} MB/s)",
        stats.lines,
        stats.tokens,
        stats.bytes as f64 / 1e6,
        stats.bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/vocab.txt");

    fn run_on(input: &str) -> Result<(String, Stats), JsonlError> {
        let tok = HostTokenizer::from_file(VOCAB).unwrap();
        let mut out = Vec::new();
        let stats = tokenize_jsonl(&tok, "test", input.as_bytes(), &mut out, |_| {})?;
        Ok((String::from_utf8(out).unwrap(), stats))
    }

    #[test]
    fn lines_in_order_without_special_tokens() {
        // Ids from fixtures/wordpiece/cases.jsonl.zst (HF tokenizers); [MASK] is plain text.
        let (out, stats) =
            run_on("{\"text\": \"Fellow-Citizens of the Senate\"}\r\n{\"text\": \"\"}\n{\"text\":\"[MASK]\"}").unwrap();
        assert_eq!(out, "{\"ids\":[3507,1011,4480,1997,1996,4001]}\n{\"ids\":[]}\n{\"ids\":[1031,7308,1033]}\n");
        assert_eq!((stats.lines, stats.tokens), (3, 9));
    }

    #[test]
    fn many_lines_keep_their_order() {
        let input: String = (0..20_000).map(|i| format!("{{\"text\": \"{i}\"}}\n")).collect();
        let (out, stats) = run_on(&input).unwrap();
        assert_eq!(stats.lines, 20_000);
        let tok = HostTokenizer::from_file(VOCAB).unwrap();
        for (i, line) in out.lines().enumerate() {
            let ids: Vec<String> = tok.encode(&i.to_string()).unwrap().iter().map(|id| id.to_string()).collect();
            assert_eq!(line, format!("{{\"ids\":[{}]}}", ids.join(",")));
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let err = run_on("{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n").unwrap_err();
        assert!(matches!(err, JsonlError::BadLine { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("line 2") && err.to_string().contains("text"), "{err}");
        let err = run_on("{\"text\": \"ok\"}\n{\"text\": \"ok\"}\nnot json\n").unwrap_err();
        assert!(matches!(err, JsonlError::BadLine { line: 3, .. }), "{err}");
        let err = run_on("{\"text\": 5}\n").unwrap_err();
        assert!(matches!(err, JsonlError::BadLine { line: 1, .. }), "{err}");
        let tok = HostTokenizer::from_file(VOCAB).unwrap();
        let err = tokenize_jsonl(&tok, "t", &b"{\"text\": \"a\"}\n\xff\n"[..], Vec::new(), |_| {}).unwrap_err();
        assert!(matches!(err, JsonlError::InvalidUtf8 { line: 2 }), "{err}");
    }
}
