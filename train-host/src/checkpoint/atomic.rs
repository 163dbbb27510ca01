//! Directories that appear whole or not at all.
//!
//! A directory `dest` is written as `dest.tmp-<pid>`, every file and directory in it is fsynced, then it is
//! swapped in with renames: `dest` → `dest.old`, `dest.tmp-<pid>` → `dest`, and `dest.old` is removed. A process
//! killed at any point leaves either the old `dest`, the new `dest`, or (between the two renames) only `dest.old`;
//! [`recover_dir`] turns the last case back into `dest` and removes leftover temporary directories.

use super::CheckpointError;
use electra_pipeline::atomic_file;
use std::fs;
use std::path::{Path, PathBuf};

/// Suffix of the directory being written; a directory with this suffix is never complete.
const TMP_SUFFIX: &str = ".tmp-";
/// Suffix of the previous version of a directory while a new one is swapped in.
const OLD_SUFFIX: &str = ".old";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// `dest` with `suffix` appended to its last component.
fn sibling(dest: &Path, suffix: &str) -> Result<PathBuf, CheckpointError> {
    let name = dest.file_name().ok_or_else(|| CheckpointError::Io {
        path: dest.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "a checkpoint directory needs a name"),
    })?;
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(dest.with_file_name(name))
}

/// Writes `bytes` to `path` (a fresh file inside the directory being built) and flushes it to disk: the
/// project's one file writer ([`electra_pipeline::atomic_file`]), with the checkpoint's error type.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    Ok(atomic_file::write_file_synced(path, bytes)?)
}

/// Flushes a directory's entries (new names, renames) to disk ([`atomic_file::sync_dir`]).
pub fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    Ok(atomic_file::sync_dir(dir)?)
}

/// Builds directory `dest` atomically: `fill` writes its content into the (empty) directory it is given, using
/// [`write_file_synced`] for files and calling [`sync_dir`] on any subdirectory it creates; then the directory
/// replaces `dest` (see the module doc). On error the temporary directory is removed and `dest` is untouched.
pub fn write_dir_atomically<E: From<CheckpointError>>(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let tmp = sibling(dest, &format!("{TMP_SUFFIX}{}", std::process::id()))?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = fill(&tmp).and_then(|()| sync_dir(&tmp).map_err(E::from)) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(dest, OLD_SUFFIX)?;
    if dest.exists() {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io_err(&old))?;
        }
        fs::rename(dest, &old).map_err(io_err(dest))?;
    }
    fs::rename(&tmp, dest).map_err(io_err(&tmp))?;
    sync_dir(&parent)?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(io_err(&old))?;
    }
    Ok(())
}

/// Repairs what a process killed inside [`write_dir_atomically`] for `dest` left behind: if `dest` is missing and
/// `dest.old` exists, `dest.old` becomes `dest` again; a stale `dest.old` beside a complete `dest` and every
/// `dest.tmp-*` are removed. Returns whether `dest` exists afterwards.
pub fn recover_dir(dest: &Path) -> Result<bool, CheckpointError> {
    let old = sibling(dest, OLD_SUFFIX)?;
    if old.exists() {
        if dest.exists() {
            fs::remove_dir_all(&old).map_err(io_err(&old))?;
        } else {
            fs::rename(&old, dest).map_err(io_err(&old))?;
        }
    }
    let tmp_prefix = sibling(dest, TMP_SUFFIX)?;
    if let (Some(parent), Some(prefix)) = (tmp_prefix.parent(), tmp_prefix.file_name()) {
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        if parent.is_dir() {
            let prefix = prefix.to_string_lossy().into_owned();
            for entry in fs::read_dir(parent).map_err(io_err(parent))? {
                let entry = entry.map_err(io_err(parent))?;
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    fs::remove_dir_all(entry.path()).map_err(io_err(&entry.path()))?;
                }
            }
        }
    }
    Ok(dest.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill_with(text: &'static str) -> impl FnOnce(&Path) -> Result<(), CheckpointError> {
        move |dir| write_file_synced(&dir.join("a.txt"), text.as_bytes())
    }

    #[test]
    fn replaces_whole_directory() -> Result<(), CheckpointError> {
        let root = tempfile::tempdir().map_err(io_err(Path::new("tmp")))?;
        let dest = root.path().join("ckpt");
        write_dir_atomically(&dest, fill_with("one"))?;
        write_dir_atomically(&dest, fill_with("two"))?;
        assert_eq!(fs::read_to_string(dest.join("a.txt")).ok().as_deref(), Some("two"));
        let names: Vec<_> = fs::read_dir(root.path()).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ckpt")]);
        Ok(())
    }

    #[test]
    fn failed_fill_leaves_destination_alone() -> Result<(), CheckpointError> {
        let root = tempfile::tempdir().map_err(io_err(Path::new("tmp")))?;
        let dest = root.path().join("ckpt");
        write_dir_atomically(&dest, fill_with("one"))?;
        let failed = write_dir_atomically(&dest, |dir: &Path| {
            write_file_synced(&dir.join("a.txt"), b"half")?;
            Err(CheckpointError::NonFinite { tensor: "x".into() })
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(dest.join("a.txt")).ok().as_deref(), Some("one"));
        assert!(!sibling(&dest, &format!("{TMP_SUFFIX}{}", std::process::id()))?.exists());
        Ok(())
    }

    #[test]
    fn recovers_a_kill_between_the_two_renames() -> Result<(), CheckpointError> {
        let root = tempfile::tempdir().map_err(io_err(Path::new("tmp")))?;
        let dest = root.path().join("ckpt");
        write_dir_atomically(&dest, fill_with("good"))?;
        // The state after `dest` → `dest.old` and before the new directory was renamed in.
        fs::rename(&dest, sibling(&dest, OLD_SUFFIX)?).map_err(io_err(&dest))?;
        let half = sibling(&dest, ".tmp-999999")?;
        fs::create_dir(&half).map_err(io_err(&half))?;
        write_file_synced(&half.join("a.txt"), b"ha")?;
        assert!(recover_dir(&dest)?);
        assert_eq!(fs::read_to_string(dest.join("a.txt")).ok().as_deref(), Some("good"));
        assert!(!half.exists());
        assert!(!sibling(&dest, OLD_SUFFIX)?.exists());
        Ok(())
    }
}
