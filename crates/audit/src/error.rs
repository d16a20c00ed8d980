//! What can go wrong opening or reading an audit log, or reading the reader's flags. Each
//! error names the file (or the text) it is about.
//!
//! Writing a record has no error: [`crate::AuditLog::write`] reports I/O failures as
//! warnings and keeps going, so a full disk never fails a tool call.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log's directory is missing: the log never creates directories, so a typo in a
    /// path fails at start instead of writing somewhere unexpected.
    #[error("audit log {}: the directory {} does not exist", path.display(), dir.display())]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error("audit log {}: cannot open it for appending: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit log {} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("audit log {}: cannot read it: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid tool pattern {glob:?}: {source}")]
    InvalidGlob {
        glob: String,
        source: globset::Error,
    },
    #[error("invalid time {text:?}: expected a duration such as 10m, 2h or 1d, or an RFC 3339 time such as 2026-12-02T16:30:00Z")]
    InvalidSince { text: String },
}
