//! Watching one execution's calls as they happen: which finished, and what progress their
//! sources report on the way. The gateway turns this into `notifications/progress` for the
//! client; the catalogue only carries it from the sources to the observer.

use std::sync::Arc;

use codemode_sandbox::{AnswerFuture, ToolAnswer, ToolCall, ToolFuture, ToolHost, ToolNames};

use crate::catalog::{Catalog, SEARCH_FUNCTION};
use crate::gate::CallGate;

/// Progress a source reported for one call in flight (an MCP server's
/// `notifications/progress`).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// Where a source sends the progress of one call.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// What the caller of one tool call wants to hear while it runs.
#[derive(Clone, Default)]
pub struct CallContext {
    pub progress: Option<ProgressSink>,
}

/// Told about the calls of one execution. Called from whichever task runs the call: keep
/// each method quick and never block.
pub trait CallObserver: Send + Sync + 'static {
    /// `tools.<path>` finished, successfully or not.
    fn finished(&self, path: &str, ok: bool);
    /// The source of `tools.<path>` reported progress while it runs.
    fn progress(&self, path: &str, progress: &Progress);
}

/// The catalogue as one execution's [`ToolHost`]: every call goes through [`Catalog`]'s
/// choke point as usual; its end and progress reach the observer, and the gate decides
/// what happens to it (see [`crate::gate`]).
#[derive(Clone)]
pub struct ExecutionHost {
    catalog: Catalog,
    hooks: Hooks,
}

/// What one execution adds to the choke point.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) observer: Option<Arc<dyn CallObserver>>,
    pub(crate) gate: Option<Arc<dyn CallGate>>,
}

impl Catalog {
    /// A host for one execution, with nothing watching yet.
    pub fn host(&self) -> ExecutionHost {
        ExecutionHost {
            catalog: self.clone(),
            hooks: Hooks::default(),
        }
    }

    /// A host for one execution whose calls `observer` follows.
    pub fn observed(&self, observer: Arc<dyn CallObserver>) -> ExecutionHost {
        self.host().observed_by(observer)
    }
}

impl ExecutionHost {
    /// `observer` hears each call end and the progress its source reports.
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> ExecutionHost {
        self.hooks.observer = Some(observer);
        self
    }

    /// `gate` admits, answers or refuses each call.
    pub fn gated_by(mut self, gate: Arc<dyn CallGate>) -> ExecutionHost {
        self.hooks.gate = Some(gate);
        self
    }
}

impl ToolHost for ExecutionHost {
    fn names(&self) -> Arc<ToolNames> {
        ToolHost::names(&self.catalog)
    }

    fn call(&self, call: ToolCall) -> ToolFuture {
        let answer = self.answer(call);
        Box::pin(async move { answer.await.and_then(ToolAnswer::into_value) })
    }

    fn answer(&self, call: ToolCall) -> AnswerFuture {
        let Some(observer) = self.hooks.observer.clone() else {
            return self
                .catalog
                .answer_in(call, &self.hooks, &CallContext::default());
        };
        if call.namespace.is_empty() && call.name == SEARCH_FUNCTION {
            return self
                .catalog
                .answer_in(call, &self.hooks, &CallContext::default());
        }
        let path: Arc<str> = format!("{}.{}", call.namespace, call.name).into();
        let sink: ProgressSink = {
            let (observer, path) = (observer.clone(), path.clone());
            Arc::new(move |progress: Progress| observer.progress(&path, &progress))
        };
        let context = CallContext {
            progress: Some(sink),
        };
        let call = self.catalog.answer_in(call, &self.hooks, &context);
        Box::pin(async move {
            let outcome = call.await;
            observer.finished(&path, outcome.is_ok());
            outcome
        })
    }
}
