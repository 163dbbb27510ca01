//! One writer per output: the lock every long job (`electra shard`, `pretrain`, `finetune`, `export`) takes on
//! its output before it writes anything there.
//!
//! The lock is a file (`.electra.lock` in an output directory, `.NAME.electra.lock` beside an output file) held
//! with `flock(LOCK_EX | LOCK_NB)` and holding the holder's pid and command line. The kernel drops the `flock`
//! when its process ends however it ends (kill -9 included), so a lock can never outlive its run: a file whose
//! `flock` is free is stale, whatever pid it names, and is taken over, with a notice naming the pid that left it.
//! A second run while the first is alive is refused with [`LockError::Held`], naming the first's pid. The file is
//! removed when the [`OutputLock`] is dropped; one left behind by a killed run is harmless.
//!
//! `flock` works on local file systems and, emulated with POSIX record locks, on NFS since Linux 2.6.12.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file of an output directory.
pub const DIR_LOCK_FILE: &str = ".electra.lock";

/// Times a lock file found replaced under us (a holder releasing it at that moment) is opened again before giving
/// up: one release is all a single other holder can do, so more than a few means something else rewrites the file.
const MAX_ATTEMPTS: usize = 8;

/// Why an output could not be locked.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// Another live process holds the lock.
    Held {
        /// The output the lock guards.
        output: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's pid as its lock file names it (`None` if the file holds none yet: it is being written).
        pid: Option<u32>,
        /// The holder's command line as its lock file gives it.
        command: String,
    },
    /// The output directory cannot be created, or the lock file cannot be created, written or locked: a
    /// read-only or missing directory, a full disk, no permission.
    Io { path: PathBuf, source: std::io::Error },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Held { output, lock, pid, command } => {
                let who = match pid {
                    Some(pid) => format!("pid {pid}"),
                    None => "another process".to_string(),
                };
                write!(
                    f,
                    "{} is in use by {who} ({command}): two runs cannot write the same output at once (lock {})",
                    output.display(),
                    lock.display()
                )
            }
            Self::Io { path, source } => write!(f, "cannot write to {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Held { .. } => None,
        }
    }
}

/// A held lock on an output; released (and its file removed) on drop.
#[derive(Debug)]
pub struct OutputLock {
    /// Kept open for the lock's lifetime: closing it releases the `flock`.
    _held: File,
    path: PathBuf,
    stale_pid: Option<u32>,
}

impl OutputLock {
    /// Locks the output directory `dir`, creating it (and its parents) first if needed.
    pub fn dir(dir: &Path) -> Result<Self, LockError> {
        Self::dir_named(dir, DIR_LOCK_FILE)
    }

    /// Locks the output directory `dir` with the lock file `name` in it: workers that share one directory
    /// and write disjoint files in it (`electra shard`'s MPI ranks) each take their own.
    pub fn dir_named(dir: &Path, name: &str) -> Result<Self, LockError> {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Io { path: dir.to_path_buf(), source })?;
        Self::acquire(dir, &dir.join(name))
    }

    /// Locks the output file `path` (which need not exist) through `.NAME.electra.lock` beside it. Its
    /// directory must exist.
    pub fn file(path: &Path) -> Result<Self, LockError> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
        Self::acquire(path, &dir.join(format!(".{name}{DIR_LOCK_FILE}")))
    }

    fn acquire(output: &Path, lock: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io { path: lock.to_path_buf(), source };
        let mut attempts = 0;
        let (mut file, pid) = loop {
            let mut file =
                OpenOptions::new().read(true).write(true).create(true).truncate(false).open(lock).map_err(io)?;
            let mut previous = String::new();
            // A lock file that is not text is someone's garbage, not a holder: read it as empty.
            let _ = file.read_to_string(&mut previous);
            let (pid, command) = parse(&previous);
            if !try_flock(&file).map_err(io)? {
                return Err(LockError::Held { output: output.to_path_buf(), lock: lock.to_path_buf(), pid, command });
            }
            // The holder we waited on may have removed the file between our open and our flock (see `Drop`): then
            // we lock a file no one else can find, and must lock the one at the path instead.
            if same_file(&file, lock) {
                break (file, pid);
            }
            attempts += 1;
            if attempts == MAX_ATTEMPTS {
                let message = format!("{} keeps being replaced while it is locked", lock.display());
                return Err(io(std::io::Error::other(message)));
            }
        };
        // Ours now. Whatever the file names, its process no longer holds it.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        let command_line: Vec<String> = std::env::args().collect();
        writeln!(file, "{}\n{}", std::process::id(), command_line.join(" ")).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _held: file, path: lock.to_path_buf(), stale_pid: pid })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pid a stale lock file named (a run that ended without releasing it: killed, or a crash), if this lock
    /// took one over.
    pub fn stale_pid(&self) -> Option<u32> {
        self.stale_pid
    }

    /// The notice to print when a stale lock was taken over.
    pub fn notice(&self) -> Option<String> {
        self.stale_pid.map(|pid| {
            format!("note: {} was left by pid {pid}, which no longer holds it; taking it over", self.path.display())
        })
    }

    /// [`OutputLock::notice`] on stderr, if any; returns the lock.
    pub fn report(self) -> Self {
        if let Some(notice) = self.notice() {
            eprintln!("{notice}");
        }
        self
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked, so no other process can take the name between our unlock and the removal
        // and then lose its file. Failing to remove it is harmless: a lock file nobody flocks is stale.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `file` is still the file at `path` (same device and inode).
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// The pid and command line a lock file holds.
fn parse(text: &str) -> (Option<u32>, String) {
    let mut lines = text.lines();
    let pid = lines.next().and_then(|l| l.trim().parse().ok());
    let command = lines.next().unwrap_or("command unknown").to_string();
    (pid, command)
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file description holds it.
#[cfg(unix)]
fn try_flock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: `flock` only reads the descriptor, which `file` keeps open for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(code) if code == libc::EWOULDBLOCK => Ok(false),
        _ => Err(err),
    }
}

/// Without `flock`, the lock file's existence is the lock (not reached on the platforms this project builds for).
#[cfg(not(unix))]
fn try_flock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_naming_the_first_pid() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("out");
        let first = OutputLock::dir(&dir).expect("first lock");
        assert_eq!(first.stale_pid(), None);
        // flock locks are per open file description, so a second open in this process contends like a second run.
        let second = OutputLock::dir(&dir);
        match second {
            Err(LockError::Held { pid, output, .. }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(output, dir);
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let message = OutputLock::dir(&dir).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains(&format!("in use by pid {}", std::process::id())), "{message}");
        drop(first);
        assert!(!dir.join(DIR_LOCK_FILE).exists(), "released locks are removed");
        let again = OutputLock::dir(&dir).expect("free again");
        assert_eq!(again.stale_pid(), None);
    }

    #[test]
    fn stale_lock_is_taken_over_with_a_notice() {
        let root = tempfile::tempdir().expect("tempdir");
        // What a killed run leaves: the file, with its pid, and no flock on it.
        std::fs::write(root.path().join(DIR_LOCK_FILE), "4194303\nelectra pretrain --out x\n").expect("write");
        let lock = OutputLock::dir(root.path()).expect("stale lock taken over");
        assert_eq!(lock.stale_pid(), Some(4194303));
        let notice = lock.notice().unwrap_or_default();
        assert!(notice.contains("left by pid 4194303"), "{notice}");
        let text = std::fs::read_to_string(lock.path()).expect("read");
        assert!(text.starts_with(&format!("{}\n", std::process::id())), "{text}");
    }

    #[test]
    fn file_locks_sit_beside_the_file_and_are_independent_per_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let a = OutputLock::file(&root.path().join("a.elq")).expect("a");
        assert_eq!(a.path(), root.path().join(".a.elq.electra.lock"));
        let _b = OutputLock::file(&root.path().join("b.elq")).expect("b is another output");
        assert!(matches!(OutputLock::file(&root.path().join("a.elq")), Err(LockError::Held { .. })));
    }

    #[test]
    fn a_missing_parent_is_an_error_naming_the_path() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("no/such/dir/model.elq");
        let err = OutputLock::file(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with(&format!("cannot write to {}", root.path().join("no/such/dir").display())), "{err}");
    }
}
