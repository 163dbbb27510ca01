//! The project's one way to write a file that must never be seen half-written: manifests, model files,
//! checkpoints, metrics, predictions.
//!
//! A file is written under a temporary name in its own directory, flushed to disk (`fsync`), renamed over
//! its final name, and the directory is flushed so the rename itself survives a power cut. A reader, or a
//! resumed run, therefore sees the old file or the new one, never a prefix. The temporary name holds the
//! process id and a per-process counter, so two processes (or two threads) writing beside each other never
//! share one; a writer that fails removes its temporary file.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An I/O error while writing `path` (or its temporary file, or syncing its directory).
#[derive(Debug)]
#[non_exhaustive]
pub struct FileWriteError {
    /// The file (or directory) the failed operation was about.
    pub path: PathBuf,
    pub source: io::Error,
}

impl FileWriteError {
    fn at(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self { path: path.to_path_buf(), source }
    }
}

impl fmt::Display for FileWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "writing {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for FileWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Distinguishes temporary files of one process (threads, or several files of one name in a run).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The marker in every temporary name: a file whose name holds it is never complete.
pub const TEMP_MARKER: &str = ".tmp-";

/// A fresh temporary path beside `path`: `.<name>.tmp-<pid>-<n>` in the same directory (a rename is atomic
/// only within one filesystem), hidden so directory listings and globs do not pick it up.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}{TEMP_MARKER}{}-{n}", std::process::id()))
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes a directory's entries (new names, renames) to disk. Unix only: elsewhere directories cannot be
/// opened as files, and the rename's own guarantees are all there is.
pub fn sync_dir(dir: &Path) -> Result<(), FileWriteError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(FileWriteError::at(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A file being written under its temporary name ([`temp_path_for`]) until [`PendingFile::commit`] renames it
/// over its final name: the one place where a written file becomes visible. For a writer that keeps the file
/// open across calls (a Parquet shard, row group by row group); [`write_atomically`] is this around one closure.
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    path: PathBuf,
}

impl PendingFile {
    /// Creates the temporary file for `path`, beside it; write everything into the returned file.
    pub fn create(path: &Path) -> Result<(Self, File), FileWriteError> {
        let tmp = temp_path_for(path);
        let file = File::create(&tmp).map_err(FileWriteError::at(&tmp))?;
        Ok((Self { tmp, path: path.to_path_buf() }, file))
    }

    /// Where the file is written until it is committed.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes `file` (the one [`PendingFile::create`] gave, every write done) to disk, renames it over the final
    /// name and flushes the directory, so the rename survives a power cut too.
    pub fn commit(&self, file: File) -> Result<(), FileWriteError> {
        file.sync_all().map_err(FileWriteError::at(&self.tmp))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(FileWriteError::at(&self.path))?;
        sync_dir(parent_dir(&self.path))
    }

    /// Removes the temporary file after a failure. Best effort: the error being returned matters more than a
    /// failure to clean up after it (and a resumed run removes stale temporary files).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Writes `path` atomically with what `write` produces (through a buffer), and returns `write`'s value.
///
/// On any error, from `write` or from the file system, the temporary file is removed and `path` is left as it
/// was. `E` is the caller's error type; file-system errors reach it as a [`FileWriteError`] naming the path.
pub fn write_atomically<T, E: From<FileWriteError>>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, E> {
    let (pending, file) = PendingFile::create(path)?;
    let result = (|| {
        let mut out = BufWriter::new(file);
        let value = write(&mut out)?;
        let file =
            out.into_inner().map_err(|e| FileWriteError { path: pending.tmp.clone(), source: e.into_error() })?;
        pending.commit(file)?;
        Ok(value)
    })();
    if result.is_err() {
        pending.discard();
    }
    result
}

/// Writes `bytes` to `path` atomically (see [`write_atomically`]).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileWriteError> {
    write_atomically(path, |out| out.write_all(bytes).map_err(FileWriteError::at(path)))
}

/// Writes `bytes` to a new file `path` and flushes it to disk, without a rename: for files inside a directory
/// that is itself swapped in atomically (a checkpoint), where the directory's rename is what makes them visible.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<(), FileWriteError> {
    let mut file = File::create(path).map_err(FileWriteError::at(path))?;
    file.write_all(bytes).map_err(FileWriteError::at(path))?;
    file.sync_all().map_err(FileWriteError::at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("electra-atomic-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(TEMP_MARKER))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("out.json");
        write_bytes_atomically(&path, b"first").expect("first write");
        write_bytes_atomically(&path, b"second").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert!(leftovers(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_writer_keeps_the_old_file_and_cleans_up() {
        #[derive(Debug)]
        enum Failure {
            Mine,
            File(#[allow(dead_code)] FileWriteError),
        }
        impl From<FileWriteError> for Failure {
            fn from(e: FileWriteError) -> Self {
                Self::File(e)
            }
        }
        let dir = scratch("fail");
        let path = dir.join("out.txt");
        write_bytes_atomically(&path, b"good").expect("write");
        let result: Result<(), Failure> = write_atomically(&path, |out| {
            out.write_all(b"half").map_err(|e| Failure::File(FileWriteError { path: path.clone(), source: e }))?;
            Err(Failure::Mine)
        });
        assert!(matches!(result, Err(Failure::Mine)));
        assert_eq!(std::fs::read(&path).expect("read"), b"good");
        assert!(leftovers(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn temporary_names_are_unique_and_hidden() {
        let path = Path::new("/some/dir/model.elq");
        let (a, b) = (temp_path_for(path), temp_path_for(path));
        assert_ne!(a, b);
        assert_eq!(a.parent(), path.parent());
        let name = a.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        assert!(name.starts_with(".model.elq.tmp-"), "{name}");
    }

    #[test]
    fn an_unwritable_directory_names_the_path() {
        let err = write_bytes_atomically(Path::new("/nonexistent-electra-dir/out.txt"), b"x").expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent-electra-dir/"), "{err}");
    }
}
