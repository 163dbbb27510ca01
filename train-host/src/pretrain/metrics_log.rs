//! `metrics.jsonl`: one JSON object per optimizer step, appended and flushed as training goes.
//!
//! On `--resume` the lines past the checkpoint's step are dropped (those steps are run again), so the file always
//! reads as one uninterrupted run.

use super::PretrainError;
use crate::checkpoint::CheckpointError;
use electra_pipeline::atomic_file::write_bytes_atomically;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Optimizer steps done, counting this one (1 for the first step).
    pub step: u64,
    /// `gen_loss + disc_weight × disc_loss`.
    pub loss: f32,
    /// Generator MLM loss (mean over masked positions).
    pub gen_loss: f32,
    /// Discriminator RTD loss (mean BCE over real tokens).
    pub disc_loss: f32,
    /// Fraction of real tokens the discriminator classified correctly.
    pub rtd_accuracy: f32,
    /// Fraction of real tokens the generator's samples replaced.
    pub replaced_fraction: f32,
    /// Learning rate used for this step.
    pub lr: f32,
    /// Global L2 norm of the gradient before clipping.
    pub grad_norm: f32,
    /// Real (non-padding) tokens per second of this step, data loading included.
    pub tokens_per_s: f64,
    /// Seconds of training since step 0, summed over resumed sessions.
    pub seconds: f64,
}

/// The open log file (or a sink, on ranks other than 0).
pub struct MetricsLog {
    path: PathBuf,
    file: Option<File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PretrainError + '_ {
    move |source| PretrainError::Io { path: path.to_path_buf(), source }
}

/// Reads every record of a `metrics.jsonl`; a torn last line (a kill mid-write) is ignored.
pub fn read_records(path: &Path) -> Result<Vec<StepRecord>, PretrainError> {
    let file = File::open(path).map_err(io(path))?;
    let lines: Vec<String> = BufReader::new(file).lines().collect::<Result<_, _>>().map_err(io(path))?;
    let mut records = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<StepRecord>(line) {
            Ok(r) => records.push(r),
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                return Err(PretrainError::BadFile {
                    path: path.to_path_buf(),
                    message: format!("line {}: {e}", i + 1),
                })
            }
        }
    }
    Ok(records)
}

impl MetricsLog {
    /// Starts a new, empty log at `path` (replacing any file there).
    pub fn create(path: &Path) -> Result<Self, PretrainError> {
        let file = File::create(path).map_err(io(path))?;
        Ok(Self { path: path.to_path_buf(), file: Some(file) })
    }

    /// A log that writes nothing (data-parallel ranks other than 0).
    pub fn sink() -> Self {
        Self { path: PathBuf::new(), file: None }
    }

    /// Reopens the log of a run resumed at `step`: keeps the records up to `step` (rewriting the file
    /// atomically), returns them, and appends from there. A missing file starts empty.
    pub fn resume(path: &Path, step: u64) -> Result<(Self, Vec<StepRecord>), PretrainError> {
        let kept: Vec<StepRecord> = if path.exists() {
            read_records(path)?.into_iter().filter(|r| r.step <= step).collect()
        } else {
            Vec::new()
        };
        let mut text = String::new();
        for r in &kept {
            text.push_str(&record_line(r, path)?);
        }
        write_bytes_atomically(path, text.as_bytes()).map_err(CheckpointError::from)?;
        let file = OpenOptions::new().append(true).open(path).map_err(io(path))?;
        Ok((Self { path: path.to_path_buf(), file: Some(file) }, kept))
    }

    /// Appends one record and flushes it to the OS (a crash loses at most the line being written).
    pub fn append(&mut self, record: &StepRecord) -> Result<(), PretrainError> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        let line = record_line(record, &self.path)?;
        file.write_all(line.as_bytes()).map_err(io(&self.path))?;
        file.flush().map_err(io(&self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn record_line(record: &StepRecord, path: &Path) -> Result<String, PretrainError> {
    let mut line = serde_json::to_string(record)
        .map_err(|e| PretrainError::BadFile { path: path.to_path_buf(), message: e.to_string() })?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: u64) -> StepRecord {
        StepRecord {
            step,
            loss: 10.0 / step as f32,
            gen_loss: 1.0,
            disc_loss: 0.5,
            rtd_accuracy: 0.9,
            replaced_fraction: 0.1,
            lr: 1e-4,
            grad_norm: 1.5,
            tokens_per_s: 1000.0,
            seconds: step as f64,
        }
    }

    #[test]
    fn resume_drops_steps_past_the_checkpoint_and_a_torn_line() -> Result<(), PretrainError> {
        let dir = tempfile::tempdir().map_err(io(Path::new("tmp")))?;
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::create(&path)?;
        for step in 1..=5 {
            log.append(&record(step))?;
        }
        drop(log);
        // A kill in the middle of writing step 6.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?
            .write_all(b"{\"step\":6,\"lo")
            .map_err(io(&path))?;
        assert_eq!(read_records(&path)?.len(), 5);
        let (mut log, kept) = MetricsLog::resume(&path, 3)?;
        assert_eq!(kept, vec![record(1), record(2), record(3)]);
        log.append(&record(4))?;
        assert_eq!(read_records(&path)?, vec![record(1), record(2), record(3), record(4)]);
        Ok(())
    }
}
