//! How a log is kept: its size before it rotates, how many rotated files stay, and whether
//! it keeps the snippets' code.

use std::str::FromStr;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    /// The size `FILE` may reach; the write that would pass it rotates first. A single
    /// record larger than this is still written, alone in its file.
    pub max_bytes: u64,
    /// Rotated files kept besides `FILE` (`FILE.1` the newest … `FILE.<keep>` the oldest);
    /// 0 keeps none.
    pub keep: usize,
    pub code: CodeMode,
}

impl Default for AuditOptions {
    fn default() -> AuditOptions {
        AuditOptions {
            max_bytes: 64 * 1024 * 1024,
            keep: 5,
            code: CodeMode::Full,
        }
    }
}

/// Whether execution records keep the snippet's code or only its digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeMode {
    /// The code and its SHA-256.
    #[default]
    Full,
    /// Only the SHA-256: for logs kept where the code itself (which may quote data) should
    /// not be.
    Hash,
}

impl FromStr for CodeMode {
    type Err = String;

    fn from_str(text: &str) -> Result<CodeMode, String> {
        match text {
            "full" => Ok(CodeMode::Full),
            "hash" => Ok(CodeMode::Hash),
            other => Err(format!("expected `full` or `hash`, not {other:?}")),
        }
    }
}
