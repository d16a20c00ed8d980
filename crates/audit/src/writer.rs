//! The writer: one `write(2)` per record on a file opened for appending, under one short
//! mutex per log, rotated by size.
//!
//! Nothing is buffered in this process: once `write` returns, the record is the kernel's,
//! so a `kill -9` of the gateway loses at most the record being written (and a reader skips
//! a line it finds cut). There is no fsync per record: a power cut may lose the last
//! moments, a crash of the process does not.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{AuditError, AuditOptions, CodeMode, Record};

/// At most one warning about a failing log per this long, however many records fail.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// An append-only audit file. Cheap to clone; every clone writes to the same file through
/// the same lock, so rotation is safe among them. Open each file with one `AuditLog` only.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: AuditOptions,
    state: Mutex<State>,
}

struct State {
    file: File,
    /// What `file` holds, counted here instead of asked of the kernel per record.
    size: u64,
    /// Only regular files rotate: a log on `/dev/stderr` or a pipe is written as it is.
    rotates: bool,
    /// The file ends inside a line (a write failed part-way, or an earlier writer was
    /// killed mid-record): the next record starts on a fresh line, so the cut one stays
    /// alone on its line instead of spoiling the next one too.
    torn: bool,
    trouble: Trouble,
}

/// Records lost since the loss was last reported, and when a warning was last logged.
#[derive(Default)]
struct Trouble {
    lost: u64,
    last_warning: Option<Instant>,
}

impl AuditLog {
    /// Opens `path` for appending (creating the file, never its directory).
    pub fn open(path: impl Into<PathBuf>, options: AuditOptions) -> Result<AuditLog, AuditError> {
        let path = path.into();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(AuditError::NoDirectory { path, dir });
        }
        let (file, size, rotates) = match open_append(&path) {
            Ok(opened) => opened,
            Err(source) => return Err(AuditError::Open { path, source }),
        };
        // A writer before us was killed mid-record: our first record starts a new line
        // rather than finishing that one (and being lost with it).
        let torn = rotates && ends_mid_line(&path, size);
        Ok(AuditLog {
            inner: Arc::new(Inner {
                path,
                options,
                state: Mutex::new(State {
                    file,
                    size,
                    rotates,
                    torn,
                    trouble: Trouble::default(),
                }),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn options(&self) -> &AuditOptions {
        &self.inner.options
    }

    /// Appends `record` as one line. Never fails and never panics: a record that cannot be
    /// written is counted and reported as a warning (at most one a minute), and the log
    /// keeps trying with the next one.
    pub fn write(&self, record: &Record) {
        let redacted = match self.inner.options.code {
            CodeMode::Full => None,
            CodeMode::Hash => record.without_code(),
        };
        // Serialised before the lock is taken: the lock only covers the append.
        let line = match serde_json::to_vec(redacted.as_ref().unwrap_or(record)) {
            Ok(mut line) => {
                line.push(b'\n');
                line
            }
            Err(e) => {
                let error = io::Error::from(e);
                self.with_state(|state| state.trouble.failed(&self.inner.path, &error));
                return;
            }
        };
        self.with_state(|state| match state.append(&self.inner, line) {
            Ok(()) => state.trouble.recovered(&self.inner.path),
            Err(e) => state.trouble.failed(&self.inner.path, &e),
        });
    }

    fn with_state(&self, f: impl FnOnce(&mut State)) {
        // A panic elsewhere while holding the lock leaves nothing half-done that matters
        // here: the state is a file handle and counters.
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut state);
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl State {
    fn append(&mut self, log: &Inner, line: Vec<u8>) -> io::Result<()> {
        let len = u64::try_from(line.len()).unwrap_or(u64::MAX);
        if self.rotates && self.size > 0 && self.size.saturating_add(len) > log.options.max_bytes {
            match self.rotate(log) {
                // A fresh file needs no newline to separate a cut record.
                Ok(()) => self.torn = false,
                // Better a file past its size than a lost record: write on where we are.
                Err(e) => self.trouble.rotation_failed(&log.path, &e),
            }
        }
        let line = if self.torn {
            [b"\n".as_slice(), &line].concat()
        } else {
            line
        };
        let file = &mut self.file;
        // Flushing a `File` is a no-op today; it stays so that no buffer is ever added
        // here unnoticed.
        match file.write_all(&line).and_then(|()| file.flush()) {
            Ok(()) => {
                self.size = self
                    .size
                    .saturating_add(u64::try_from(line.len()).unwrap_or(u64::MAX));
                self.torn = false;
                Ok(())
            }
            Err(e) => {
                // Part of the line may be in the file: start the next one afresh, and count
                // from what the file really holds.
                self.torn = true;
                if let Ok(metadata) = file.metadata() {
                    self.size = metadata.len();
                }
                Err(e)
            }
        }
    }

    /// `FILE.<keep-1>` → `FILE.<keep>` … `FILE` → `FILE.1`, and a fresh `FILE`. The fresh
    /// file is made first, as `FILE.new`: when it cannot be, nothing has moved and the
    /// records go on into the old one.
    fn rotate(&mut self, log: &Inner) -> io::Result<()> {
        let keep = log.options.keep;
        if keep == 0 {
            // Nothing to keep: the file starts again in place (appends go to its new end).
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let fresh_path = with_suffix(&log.path, ".new");
        fs::remove_file(&fresh_path).or_else(ignore_missing)?;
        let fresh = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&fresh_path)?;
        for n in (1..keep).rev() {
            fs::rename(sibling(&log.path, n), sibling(&log.path, n + 1)).or_else(ignore_missing)?;
        }
        fs::rename(&log.path, sibling(&log.path, 1))?;
        if let Err(e) = fs::rename(&fresh_path, &log.path) {
            // Put `FILE` back, so the next rotation does not shift the files again while
            // the records still go to the old one.
            let _ = fs::rename(sibling(&log.path, 1), &log.path);
            return Err(e);
        }
        self.file = fresh;
        self.size = 0;
        Ok(())
    }
}

impl Trouble {
    fn failed(&mut self, path: &Path, error: &io::Error) {
        self.lost = self.lost.saturating_add(1);
        if self.due() {
            tracing::warn!(
                "audit: cannot write to {}: {error}; {} record(s) lost so far",
                path.display(),
                self.lost
            );
        }
    }

    fn recovered(&mut self, path: &Path) {
        // Said only when a warning is due; until then the count carries on, so the lost
        // records are reported once, later, instead of a message per flap.
        if self.lost > 0 && self.due() {
            tracing::warn!(
                "audit: writing to {} again; {} record(s) were lost",
                path.display(),
                self.lost
            );
            self.lost = 0;
        }
    }

    fn rotation_failed(&mut self, path: &Path, error: &io::Error) {
        if self.due() {
            tracing::warn!(
                "audit: cannot rotate {}: {error}; it grows past its size limit",
                path.display()
            );
        }
    }

    /// Whether a warning may be logged now (and, if so, that one is).
    fn due(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARNING_INTERVAL);
        if due {
            self.last_warning = Some(now);
        }
        due
    }
}

/// `path` opened for appending, with its size and whether it is a regular file.
fn open_append(path: &Path) -> io::Result<(File, u64, bool)> {
    let file = OpenOptions::new().append(true).create(true).open(path)?;
    let metadata = file.metadata()?;
    Ok((file, metadata.len(), metadata.is_file()))
}

/// Whether the regular file at `path` (of `size` bytes) ends inside a line: the last record
/// of a writer killed mid-write. Unreadable counts as no: the file is written as it is.
fn ends_mid_line(path: &Path, size: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let Some(last) = size.checked_sub(1) else {
        return false;
    };
    let mut byte = [0u8];
    File::open(path)
        .and_then(|file| file.read_exact_at(&mut byte, last))
        .is_ok_and(|()| byte[0] != b'\n')
}

/// `FILE.n`: the `n`th newest rotated file.
pub(crate) fn sibling(path: &Path, n: usize) -> PathBuf {
    with_suffix(path, &format!(".{n}"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
