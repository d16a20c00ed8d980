//! Reading audit files back: line by line with line numbers, past anything that is not a
//! record (a line cut by a `kill -9`, a stray edit), never stopping on one.
//!
//! * [`Records`]: every line of one file, once (`records`, `Records::open`).
//! * [`history`]: a log's files oldest first, the rotated ones before `FILE`.
//! * [`Follower`]: `FILE` as it grows, waiting for a line's newline and following it
//!   across a rotation.
//! * [`Filter`]: which records `codemode audit` keeps.

mod filter;
mod follow;
mod lines;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

pub use filter::Filter;
pub use follow::Follower;
pub use lines::{Line, Skip};

use crate::writer::sibling;
use crate::AuditError;
use lines::{Ending, LineBuffer};

/// Every line of `reader`, as [`Line`]s. A last line without its newline is read as well:
/// a record if it parses, else [`Skip::Incomplete`].
pub fn records<R: BufRead>(reader: R) -> Records<R> {
    Records {
        reader,
        line: LineBuffer::default(),
        number: 0,
        failed: false,
    }
}

#[derive(Debug)]
pub struct Records<R> {
    reader: R,
    line: LineBuffer,
    number: u64,
    /// After a read error nothing more is read.
    failed: bool,
}

impl Records<BufReader<File>> {
    /// The lines of the file at `path`.
    pub fn open(path: &Path) -> Result<Records<BufReader<File>>, AuditError> {
        let file = File::open(path).map_err(|source| read_error(path, source))?;
        Ok(records(BufReader::new(file)))
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<io::Result<Line>> {
        while !self.failed {
            let ending = match self.line.read(&mut self.reader) {
                Ok(Some(ending)) => ending,
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            self.number += 1;
            if let Some(line) = self.line.take(self.number, ending) {
                return Some(Ok(line));
            }
            if ending == Ending::EndOfStream {
                return None;
            }
        }
        None
    }
}

/// The files of the log at `path`, oldest first: `FILE.<n>` … `FILE.1`, then `FILE`, so
/// that reading them in turn reads the history in order. `FILE` itself must exist.
pub fn history(path: &Path) -> Result<Vec<PathBuf>, AuditError> {
    fs::metadata(path).map_err(|source| read_error(path, source))?;
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return Ok(vec![path.to_path_buf()]);
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let entries = fs::read_dir(dir).map_err(|source| read_error(dir, source))?;
    let prefix = format!("{name}.");
    let mut rotated: Vec<usize> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let file_name = entry.file_name();
            let suffix = file_name.to_str()?.strip_prefix(&prefix)?;
            // Only what rotation names (`FILE.1`): not `FILE.bak`, `FILE.1.gz` or `FILE.01`.
            if suffix.starts_with('0') || !suffix.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            suffix.parse().ok()
        })
        .collect();
    rotated.sort_unstable_by(|a, b| b.cmp(a));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|n| sibling(path, n)).collect();
    files.push(path.to_path_buf());
    Ok(files)
}

fn read_error(path: &Path, source: io::Error) -> AuditError {
    if source.kind() == io::ErrorKind::NotFound {
        AuditError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        AuditError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}
