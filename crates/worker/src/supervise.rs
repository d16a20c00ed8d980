//! One execution in one worker, from the gateway's side: send the code, serve its tool
//! calls (checking each against the catalogue: the worker is not trusted), keep the audit
//! trail, and turn every way a worker can fail into an execution error.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_sandbox::{
    CallRecord, ErrorKind, Execution, ExecutionError, ExecutionStats, Limits, ToolCall,
    ToolCatalog, ToolError, ToolHost,
};
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;

use crate::error::ProtocolError;
use crate::process::{describe_exit, WorkerProcess};
use crate::protocol::{FromWorker, ToWorker, WireCatalog, WireLimits, WireOutcome};

/// Time beyond the wall-clock limit a worker gets to report its own timeout before it is
/// killed: the sandbox's own timeout error is the better message.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

type CallFuture = Pin<Box<dyn Future<Output = (u64, Result<Value, ToolError>)> + Send>>;

/// How a worker failed an execution.
enum Fault {
    Exited,
    Protocol(ProtocolError),
    Violation(String),
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

    fn close(&mut self, id: u64, outcome: &Result<Value, ToolError>) {
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

pub(crate) async fn supervise(
    mut worker: WorkerProcess,
    code: &str,
    host: Arc<dyn ToolHost>,
    limits: Limits,
) -> Execution {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + limits.wall_time + GRACE);
    let mut ledger = Ledger {
        started,
        records: Vec::new(),
        index_of: HashMap::new(),
    };
    let conversation = converse(&mut worker, code, host, &limits, &mut ledger);
    let (kind, what) = match tokio::time::timeout_at(deadline, conversation).await {
        Ok(Ok(execution)) => {
            worker.kill();
            return execution;
        }
        Err(_) => (
            ErrorKind::Timeout,
            format!(
                "the snippet did not finish within the {} ms wall-clock limit and its worker \
                 stopped answering, so it was killed",
                limits.wall_time.as_millis()
            ),
        ),
        Ok(Err(Fault::Exited)) => {
            let how = match worker.exit_status(Duration::from_secs(2)).await {
                Some(status) => describe_exit(status),
                None => "closed its pipe".into(),
            };
            (
                ErrorKind::Internal,
                format!("the worker process running this snippet {how} before it finished"),
            )
        }
        Ok(Err(Fault::Protocol(error))) => (
            ErrorKind::Internal,
            format!("the worker process running this snippet broke the protocol ({error}) and was killed"),
        ),
        Ok(Err(Fault::Violation(what))) => (
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
    failed(kind, what, ledger, started)
}

fn failed(kind: ErrorKind, what: String, ledger: Ledger, started: Instant) -> Execution {
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
) -> Result<Execution, Fault> {
    let catalog: Arc<ToolCatalog> = host.catalog();
    let execute = ToWorker::Execute {
        code: code.to_string(),
        limits: WireLimits::from(limits),
        catalog: WireCatalog::from(catalog.as_ref()),
    };
    if let Err(error) = worker.send(&execute).await {
        // A pipe error means the worker is gone; its exit status says more.
        return Err(match error {
            ProtocolError::Io(_) => Fault::Exited,
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
                    let future = host.call(call);
                    calls.push(Box::pin(async move { (id, future.await) }));
                }
                Some(Ok(FromWorker::Done { execution, returned_null })) => {
                    return Ok(FromWorker::into_execution(*execution, returned_null))
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
    catalog: &ToolCatalog,
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
