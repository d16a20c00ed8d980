//! Which records `codemode audit` shows. Every condition given must hold.

use std::time::SystemTime;

use globset::{Glob, GlobMatcher};

use crate::{AuditError, Record};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    tool: Option<GlobMatcher>,
    since: Option<SystemTime>,
    execution: Option<String>,
}

impl Filter {
    /// Keeps every record.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Only call records whose tool matches `glob` (`github.*`, `*.delete_*`), under its
    /// TypeScript name or its server's own name (`namespace.sourceTool`). Execution records
    /// name no tool, so they are left out: they are kept by `execution` instead.
    pub fn tool(mut self, glob: &str) -> Result<Filter, AuditError> {
        let matcher = Glob::new(glob)
            .map_err(|source| AuditError::InvalidGlob {
                glob: glob.to_string(),
                source,
            })?
            .compile_matcher();
        self.tool = Some(matcher);
        Ok(self)
    }

    /// Only records at `time` or later.
    pub fn since(mut self, time: SystemTime) -> Filter {
        self.since = Some(time);
        self
    }

    /// Only the records of one execution: its start, its calls, its end.
    pub fn execution(mut self, id: impl Into<String>) -> Filter {
        self.execution = Some(id.into());
        self
    }

    pub fn matches(&self, record: &Record) -> bool {
        if let Some(since) = self.since {
            if record.time().system_time() < since {
                return false;
            }
        }
        if let Some(id) = &self.execution {
            if record.execution() != id {
                return false;
            }
        }
        match (&self.tool, record) {
            (None, _) => true,
            (Some(glob), Record::Call(call)) => {
                glob.is_match(&call.tool)
                    || call
                        .source_path()
                        .is_some_and(|source| glob.is_match(source))
            }
            (Some(_), Record::ExecuteStart(_) | Record::Execute(_)) => false,
        }
    }
}
