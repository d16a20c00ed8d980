//! A glob over `namespace.tool`: `*` and `?` match within the whole name (dots included), so
//! `*.delete_*` and `github.*` read as an operator means them.

use globset::{Glob, GlobBuilder, GlobMatcher};

use crate::PolicyError;

#[derive(Debug, Clone)]
pub(crate) struct ToolGlob {
    matcher: GlobMatcher,
}

impl ToolGlob {
    pub(crate) fn new(pattern: &str) -> Result<ToolGlob, PolicyError> {
        if pattern.trim().is_empty() {
            return Err(PolicyError::EmptyPattern);
        }
        let glob: Glob = GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|error| PolicyError::BadPattern {
                pattern: pattern.to_string(),
                reason: error.kind().to_string(),
            })?;
        Ok(ToolGlob {
            matcher: glob.compile_matcher(),
        })
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}
