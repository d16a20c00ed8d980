//! How a failed execution is described to the agent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which kind of failure ended an execution. Agents (and the gateway) branch on this:
/// a `Syntax` error is fixed by rewriting, a `Timeout` by doing less per execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The TypeScript did not parse, or used syntax the sandbox does not offer (`import`).
    Syntax,
    /// The snippet threw (or its promise rejected) with an ordinary JavaScript error.
    Runtime,
    /// CPU time or wall-clock time ran out.
    Timeout,
    /// The heap limit was reached.
    Memory,
    /// Another limit was reached: stack depth, number of tool calls.
    Limit,
    /// A tool call failed and the snippet let the error escape.
    Tool,
    /// The sandbox itself failed (a bug, or the engine could not start).
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::Runtime => "runtime",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Memory => "memory",
            ErrorKind::Limit => "limit",
            ErrorKind::Tool => "tool",
            ErrorKind::Internal => "internal",
        };
        f.write_str(name)
    }
}

/// A place in the agent's own TypeScript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The text of that line, so the agent sees what it wrote without counting lines.
    pub source_line: String,
}

/// Why an execution failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionError {
    pub kind: ErrorKind,
    /// One line, starting with the error's name (`TypeError: ...`).
    pub message: String,
    /// Where in the agent's TypeScript, when known.
    pub location: Option<SourceLocation>,
    /// The stack, with frames in the agent's TypeScript only (`at fn (snippet.ts:3:7)`).
    pub stack: Option<String>,
}

/// Bytes of an error's message and of its stack kept: a snippet can throw a 40 MB message,
/// and every front end prints it (an MCP reply twice).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 8 * 1024;
pub const MAX_ERROR_STACK_BYTES: usize = 8 * 1024;
/// Bytes of the quoted source line kept.
pub const MAX_SOURCE_LINE_BYTES: usize = 1024;

impl ExecutionError {
    /// The error with its message, stack and quoted line cut to their budgets. The sandbox
    /// applies it where errors are made; a gateway applies it again to what a worker says.
    pub fn bounded(mut self) -> ExecutionError {
        self.message = clip_bytes(&self.message, MAX_ERROR_MESSAGE_BYTES);
        self.stack = self
            .stack
            .map(|stack| clip_bytes(&stack, MAX_ERROR_STACK_BYTES));
        if let Some(location) = &mut self.location {
            location.source_line = clip_bytes(&location.source_line, MAX_SOURCE_LINE_BYTES);
        }
        self
    }

    pub fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        location: Option<SourceLocation>,
    ) -> Self {
        ExecutionError {
            kind,
            message: message.into(),
            location,
            stack: None,
        }
    }
}

impl fmt::Display for ExecutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(location) = &self.location {
            let gutter = location.line.to_string();
            write!(
                f,
                "\n  at line {}, column {}:\n  {gutter} | {}\n  {} | {}^",
                location.line,
                location.column,
                location.source_line,
                " ".repeat(gutter.len()),
                " ".repeat(location.column.saturating_sub(1) as usize)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ExecutionError {}

/// `text` cut to at most `max` bytes (on a character boundary), saying how much was cut.
pub fn clip_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… [{} more bytes cut]", &text[..cut], text.len() - cut)
}
