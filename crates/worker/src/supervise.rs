//! One execution in one worker, from the gateway's side: send the code, serve its tool
//! calls (checking each against the catalogue: the worker is not trusted), keep the audit
//! trail, hold the worker to the execution's CPU and wall-clock limits from outside (native
//! code never reaches the sandbox's own checks), and turn every way a worker can fail into an
//! execution error.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_sandbox::{
    CallRecord, ErrorKind, Execution, ExecutionError, ExecutionStats, Limits, ToolAnswer, ToolCall,
    ToolError, ToolHost, ToolNames,
};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::cpu::CpuClock;
use crate::ending::{describe_end, End, Kill};
use crate::error::ProtocolError;
use crate::process::WorkerProcess;
use crate::protocol::{FromWorker, Report, Returned, ToWorker, WireNames, WireOutcome};

/// Time beyond the wall-clock limit a worker gets to report its own timeout before it is
/// killed: the sandbox's own timeout error is the better message.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

type CallFuture = Pin<Box<dyn Future<Output = (u64, Result<ToolAnswer, ToolError>)> + Send>>;

/// How long a worker that ended (or was killed) gets to be reaped, for its exit status.
const REAP_PATIENCE: Duration = Duration::from_secs(2);

/// How a worker failed an execution.
enum Fault {
    /// It was gone before it could read the code: nothing of the snippet ran.
    Unreachable,
    Exited,
    Protocol(ProtocolError),
    Violation(String),
    /// The gateway's CPU watchdog or wall-clock kill ended it.
    Killed(Kill),
}

/// Every tool call the gateway forwarded for this execution: the record that survives the
/// worker.
struct Ledger {
    started: Instant,
    records: Vec<CallRecord>,
    index_of: HashMap<u64, usize>,
}

impl Ledger {
    fn open(&mut self, id: u64, call: &ToolCall) {
        self.index_of.insert(id, self.records.len());
        self.records.push(CallRecord {
            namespace: call.namespace.clone(),
            name: call.name.clone(),
            started: self.started.elapsed(),
            duration: None,
            error: None,
        });
    }

    fn close(&mut self, id: u64, outcome: &Result<ToolAnswer, ToolError>) {
        let Some(&index) = self.index_of.get(&id) else {
            return;
        };
        let now = self.started.elapsed();
        if let Some(record) = self.records.get_mut(index) {
            record.duration = Some(now.saturating_sub(record.started));
            record.error = outcome.as_ref().err().map(|e| e.message.clone());
        }
    }
}

/// What became of an execution handed to a worker.
pub(crate) enum Supervised {
    Finished(Execution),
    /// The worker was already dead when the code was sent (a warm worker can die while it
    /// waits), or died with its fork server before it made a call: nothing the snippet did
    /// reached a tool, so another worker may run it.
    Unreachable,
}

pub(crate) async fn supervise(
    mut worker: WorkerProcess,
    code: &str,
    host: Arc<dyn ToolHost>,
    limits: Limits,
) -> Supervised {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + limits.wall_time + GRACE);
    // The worker is idle until it gets the code: its CPU so far is its start-up's.
    let clock = CpuClock::start(worker.pid);
    let mut ledger = Ledger {
        started,
        records: Vec::new(),
        index_of: HashMap::new(),
    };
    let outcome = tokio::select! {
        // A result that is in wins over a limit reached at the same moment.
        biased;
        outcome = converse(&mut worker, code, host, &limits, &mut ledger) => outcome,
        () = tokio::time::sleep_until(deadline) => Err(Fault::Killed(Kill::Wall {
            limit: limits.wall_time,
        })),
        used = clock.exceeded(limits.cpu_time) => Err(Fault::Killed(Kill::Cpu {
            limit: limits.cpu_time,
            used,
        })),
    };
    let mut outcome = outcome.and_then(|reported| vouch(reported, &mut ledger, &limits));
    // Killed with its fork server (its parent) before it made a call or reported: nothing
    // it did reached a tool, so the execution can start over elsewhere.
    if matches!(outcome, Err(Fault::Exited))
        && ledger.records.is_empty()
        && worker.lost_with_its_fork_server().await
    {
        outcome = Err(Fault::Unreachable);
    }
    let fault = match outcome {
        Ok(mut execution) => {
            worker.kill();
            execution.stats.wall_time = started.elapsed();
            if let Some(cpu) = clock.used() {
                execution.stats.cpu_time = cpu;
            }
            return Supervised::Finished(execution);
        }
        Err(Fault::Unreachable) => {
            worker.kill();
            return Supervised::Unreachable;
        }

        Err(fault) => fault,
    };
    if matches!(fault, Fault::Killed(_)) {
        worker.start_kill();
    }
    // Read before the worker is reaped (its pid is only its own until then).
    let cpu_used = clock.used();
    let (kind, what) = match fault {
        Fault::Killed(kill) => {
            let kill = match kill {
                // The clock read at the kill, if it could still be read, is the closer figure.
                Kill::Cpu { limit, used } => Kill::Cpu {
                    limit,
                    used: cpu_used.map_or(used, |now| now.max(used)),
                },
                wall => wall,
            };
            ended(&mut worker, Some(kill)).await
        }
        Fault::Exited | Fault::Unreachable => ended(&mut worker, None).await,
        Fault::Protocol(error) => (
            ErrorKind::Internal,
            format!("the worker process running this snippet broke the protocol ({error}) and was killed"),
        ),
        Fault::Violation(what) => (
            ErrorKind::Internal,
            format!("the worker process running this snippet {what} and was killed"),
        ),
    };
    tracing::warn!(
        worker = worker.pid,
        calls = ledger.records.len(),
        "execution failed: {what}"
    );
    worker.kill();
    Supervised::Finished(failed(kind, what, ledger, started, cpu_used))
}

/// What the gateway hands on of a worker's report: the calls, their count and outcomes from
/// its own ledger (the report has none); the value, logs, notes and error only once they
/// are checked against the limits again. A report past a limit is a broken or compromised
/// worker, and ends as one.
fn vouch(report: Report, ledger: &mut Ledger, limits: &Limits) -> Result<Execution, Fault> {
    if let Returned::Value(text) = &report.returned {
        if text.len() > limits.max_result_bytes {
            return Err(Fault::Violation(format!(
                "reported a value of {} bytes, past the result limit of {}",
                text.len(),
                limits.max_result_bytes
            )));
        }
    }
    let log_bytes: usize = report
        .logs
        .iter()
        .map(|log| log.message.len() + codemode_sandbox::LOG_ENTRY_OVERHEAD)
        .sum();
    if log_bytes > limits.max_log_bytes {
        return Err(Fault::Violation(format!(
            "reported {log_bytes} bytes of console output, past the log limit of {}",
            limits.max_log_bytes
        )));
    }
    let notes = report
        .notes
        .into_iter()
        .take(MAX_NOTES)
        .map(|note| codemode_sandbox::clip_bytes(&note, MAX_NOTE_BYTES))
        .collect();
    Ok(Execution {
        result: match report.returned {
            Returned::Value(text) => Ok(Some(text)),
            Returned::Nothing => Ok(None),
            Returned::Error(error) => Err(error.bounded()),
        },
        logs: report.logs,
        calls: std::mem::take(&mut ledger.records),
        notes,
        stats: ExecutionStats {
            // Both clocks are the gateway's once it can read them (see `supervise`).
            wall_time: Duration::ZERO,
            cpu_time: Duration::try_from_secs_f64(report.cpu_time_ms / 1e3).unwrap_or_default(),
            peak_memory_bytes: report.peak_memory_bytes.min(limits.memory_bytes),
        },
    })
}

/// Notes a worker may report, and bytes of each: more is not news, it is a flood.
const MAX_NOTES: usize = 20;
const MAX_NOTE_BYTES: usize = 1024;

/// The error for a worker that ended (or that the gateway killed, `killed`): its exit status
/// and last stderr lines, in words.
async fn ended(worker: &mut WorkerProcess, killed: Option<Kill>) -> (ErrorKind, String) {
    let status = worker.exit_status(REAP_PATIENCE).await;
    let stderr = worker.stderr_tail().await;
    let ending = describe_end(&End {
        status,
        killed,
        running: true,
        cpu_backstop_seconds: worker.backstop.cpu_seconds,
        stderr: &stderr,
    });
    (ending.kind, ending.message)
}

fn failed(
    kind: ErrorKind,
    what: String,
    ledger: Ledger,
    started: Instant,
    cpu_used: Option<Duration>,
) -> Execution {
    let mut notes = vec![
        "the gateway and other executions are unaffected; running the snippet again starts a fresh worker"
            .to_string(),
    ];
    if !ledger.records.is_empty() {
        notes.push(format!(
            "{} tool call(s) were made before the failure; they are listed in `calls`",
            ledger.records.len()
        ));
    }
    Execution {
        result: Err(ExecutionError {
            kind,
            message: format!("WorkerError: {what}"),
            location: None,
            stack: None,
        }),
        logs: Vec::new(),
        calls: ledger.records,
        notes,
        stats: ExecutionStats {
            wall_time: started.elapsed(),
            // The worker process's CPU time (all its threads) during the execution, as the
            // gateway read it.
            cpu_time: cpu_used.unwrap_or_default(),
            ..ExecutionStats::default()
        },
    }
}

async fn converse(
    worker: &mut WorkerProcess,
    code: &str,
    host: Arc<dyn ToolHost>,
    limits: &Limits,
    ledger: &mut Ledger,
) -> Result<Report, Fault> {
    let catalog: Arc<ToolNames> = host.names();
    let execute = ToWorker::Execute {
        code: code.to_string(),
        limits: limits.clone(),
        catalog: WireNames::from(catalog.as_ref()),
    };
    if let Err(error) = worker.send(&execute).await {
        // A pipe error means the worker is gone; its exit status says more.
        return Err(match error {
            ProtocolError::Io(_) => Fault::Unreachable,
            other => Fault::Protocol(other),
        });
    }
    let mut calls: FuturesUnordered<CallFuture> = FuturesUnordered::new();
    loop {
        tokio::select! {
            frame = worker.frames.recv() => match frame {
                Some(Ok(FromWorker::ToolCall { id, namespace, name, args })) => {
                    let call = ToolCall { namespace, name, args };
                    admit(&call, id, &catalog, limits, ledger, calls.len())?;
                    ledger.open(id, &call);
                    // Answers that come as JSON text (an upstream's text block) are
                    // handed on as that text, parsed first by the engine's `JSON.parse`.
                    let future = host.answer(call);
                    calls.push(Box::pin(async move { (id, future.await) }));
                }
                Some(Ok(FromWorker::Done { report })) => {
                    return Ok(*report)
                }
                Some(Ok(FromWorker::Hello { .. })) => {
                    return Err(Fault::Violation("greeted twice".into()))
                }
                Some(Err(error)) => return Err(Fault::Protocol(error)),
                None => return Err(Fault::Exited),
            },
            Some((id, outcome)) = calls.next(), if !calls.is_empty() => {
                ledger.close(id, &outcome);
                let outcome = WireOutcome::from_result(outcome);
                // A failed write means the worker is gone; the reader reports that next.
                let _ = worker.send(&ToWorker::ToolResult { id, outcome }).await;
            }
        }
    }
}

/// A conforming worker only asks for tools in the catalogue it was given, within the
/// execution's limits; anything else is a compromised or broken worker.
fn admit(
    call: &ToolCall,
    id: u64,
    catalog: &ToolNames,
    limits: &Limits,
    ledger: &Ledger,
    in_flight: usize,
) -> Result<(), Fault> {
    if !catalog.has_tool(&call.namespace, &call.name) {
        return Err(Fault::Violation(format!(
            "asked for {}.{}, which is not in its catalogue",
            call.namespace, call.name
        )));
    }
    if ledger.index_of.contains_key(&id) {
        return Err(Fault::Violation(format!("reused call id {id}")));
    }
    if ledger.records.len() >= limits.max_tool_calls {
        return Err(Fault::Violation(format!(
            "made more than the {} tool calls allowed",
            limits.max_tool_calls
        )));
    }
    if in_flight >= limits.max_concurrent_calls {
        return Err(Fault::Violation(format!(
            "had more than the {} concurrent tool calls allowed",
            limits.max_concurrent_calls
        )));
    }
    Ok(())
}
