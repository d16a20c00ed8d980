//! `codemode audit FILE`: the audit trail, one line per record for a person or the JSON
//! lines as written for a script, filtered by tool, time and execution, or followed as it
//! grows. Reading, filtering and following are `codemode_audit`'s; this only prints.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use codemode_audit::{
    history, parse_since, AuditError, CallRecord, ExecuteEnd, ExecuteStart, Filter, Follower, Line,
    Record, Records, Skip,
};

/// How often `--follow` looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The audit log (`serve --audit FILE`). Its rotated files (`FILE.<n>` … `FILE.1`) are
    /// read first, oldest first, so the history reads in order; `--follow` reads `FILE`
    /// only.
    pub file: PathBuf,
    /// Print the records there are, then new ones as they are written (on across
    /// rotations), until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Only tool calls whose tool matches GLOB (`github.*`, `*.delete_*`), by its
    /// TypeScript name or its server's own (`namespace.sourceTool`). Execution records
    /// name no tool and are left out; `--execution` shows one execution whole.
    #[arg(long, value_name = "GLOB")]
    pub tool: Option<String>,
    /// Only records from WHEN on: a duration back from now (`10m`, `2h`, `1d`) or an
    /// RFC 3339 time (`2026-12-02T16:30:00Z`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only the records of one execution (its start, its calls, its end).
    #[arg(long, value_name = "ID")]
    pub execution: Option<String>,
    /// Print the records as the JSON lines they are in the file.
    #[arg(long)]
    pub json: bool,
}

pub fn audit(args: AuditArgs) -> ExitCode {
    let filter = match filter(&args) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("codemode audit: {e}");
            return ExitCode::from(2);
        }
    };
    let mut printer = Printer {
        out: io::stdout().lock(),
        json: args.json,
        filter,
    };
    let printed = if args.follow {
        follow(&args.file, &mut printer)
    } else {
        read_all(&args.file, &mut printer)
    };
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output left (`| head`): nothing more to say.
        Err(Stop::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Stop::Output(e)) => {
            eprintln!("codemode audit: cannot write the output: {e}");
            ExitCode::FAILURE
        }
        Err(Stop::Log(e @ AuditError::NotFound { .. })) => {
            eprintln!("codemode audit: {e}");
            ExitCode::from(2)
        }
        Err(Stop::Log(e)) => {
            eprintln!("codemode audit: {e}");
            ExitCode::FAILURE
        }
    }
}

fn filter(args: &AuditArgs) -> Result<Filter, AuditError> {
    let mut filter = Filter::new();
    if let Some(glob) = &args.tool {
        filter = filter.tool(glob)?;
    }
    if let Some(since) = &args.since {
        filter = filter.since(parse_since(since, SystemTime::now())?);
    }
    if let Some(execution) = &args.execution {
        filter = filter.execution(execution.clone());
    }
    Ok(filter)
}

/// Why printing stopped early.
enum Stop {
    Log(AuditError),
    Output(io::Error),
}

impl From<AuditError> for Stop {
    fn from(e: AuditError) -> Stop {
        Stop::Log(e)
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Output(e)
    }
}

fn read_all(path: &Path, printer: &mut Printer<'_>) -> Result<(), Stop> {
    for file in history(path)? {
        for line in Records::open(&file)? {
            let line = line.map_err(|source| AuditError::Read {
                path: file.clone(),
                source,
            })?;
            printer.line(&file, line)?;
        }
    }
    printer.out.flush()?;
    Ok(())
}

fn follow(path: &Path, printer: &mut Printer<'_>) -> Result<(), Stop> {
    let mut follower = Follower::open(path)?;
    loop {
        while let Some(line) = follower.next_line()? {
            printer.line(path, line)?;
        }
        printer.out.flush()?;
        std::thread::sleep(FOLLOW_POLL);
    }
}

struct Printer<'a> {
    out: io::StdoutLock<'a>,
    json: bool,
    filter: Filter,
}

impl Printer<'_> {
    fn line(&mut self, file: &Path, line: Line) -> io::Result<()> {
        match line {
            Line::Record { text, record, .. } if self.filter.matches(&record) => {
                if self.json {
                    writeln!(self.out, "{text}")
                } else {
                    writeln!(self.out, "{}", printable(human(&record)))
                }
            }
            Line::Record { .. } => Ok(()),
            Line::Skipped { number, skip } => {
                let what = match skip {
                    Skip::Incomplete | Skip::NotJson => "is incomplete or not JSON".to_string(),
                    Skip::NotARecord(why) => format!("is not an audit record ({why})"),
                    Skip::TooLong => "is longer than any audit record".to_string(),
                };
                // Stdout may be piped on; the note goes where notes go.
                eprintln!("audit: line {number} of {} {what}; skipped", file.display());
                Ok(())
            }
        }
    }
}

/// One record as one line: time, type, tool or execution, outcome, decision, time taken,
/// sizes.
fn human(record: &Record) -> String {
    let time = record.time();
    let kind = record.kind();
    let rest = match record {
        Record::ExecuteStart(start) => execute_start(start),
        Record::Execute(end) => execute_end(end),
        Record::Call(call) => call_line(call),
    };
    format!("{time}  {kind:<13}  {rest}")
}

fn execute_start(start: &ExecuteStart) -> String {
    let mut line = format!("{}  code {}", start.execution, short(&start.code_sha256));
    if let Some(session) = &start.session {
        line.push_str(&format!("  session {session}"));
    }
    if let Some(client) = &start.client {
        line.push_str(&format!("  client {client}"));
    }
    line
}

fn execute_end(end: &ExecuteEnd) -> String {
    let outcome = outcome_text(end.outcome.as_str(), end.error_kind.as_deref());
    format!(
        "{}  {outcome}  {} ms  {} call{}",
        end.execution,
        end.duration_ms,
        end.calls,
        if end.calls == 1 { "" } else { "s" }
    )
}

fn call_line(call: &CallRecord) -> String {
    let outcome = outcome_text(call.outcome.as_str(), call.error_kind.as_deref());
    let decision = &call.decision;
    let mut line = format!(
        "{:<28}  {outcome:<9}  {} ({})",
        call.tool,
        decision.action.as_str(),
        decision.reason
    );
    if let Some(by) = &call.approved_by {
        line.push_str(&format!(" by {by}"));
    }
    line.push_str(&format!(
        "  {} ms  args {}  result {}  exec {}",
        call.duration_ms,
        size(call.args_bytes),
        size(call.result_bytes),
        call.execution
    ));
    if let Some(source) = &call.source_tool {
        line.push_str(&format!("  source {source}"));
    }
    if call.replayed {
        line.push_str("  replayed");
    }
    line
}

/// `line` safe for a terminal: tool names, reasons and client names come from servers and
/// clients, so a control character (an escape sequence) is shown escaped, not acted on.
fn printable(line: String) -> String {
    if !line.chars().any(char::is_control) {
        return line;
    }
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `ok`, or `error (timeout)`: the outcome with its error's kind.
fn outcome_text(outcome: &str, error_kind: Option<&str>) -> String {
    match error_kind {
        Some(kind) => format!("{outcome} ({kind})"),
        None => outcome.to_string(),
    }
}

/// The first 12 hex digits of a digest: enough to tell snippets apart by eye.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b < KIB => format!("{b} B"),
        b if b < KIB * KIB => format!("{:.1} KiB", b as f64 / KIB as f64),
        b => format!("{:.1} MiB", b as f64 / (KIB * KIB) as f64),
    }
}
