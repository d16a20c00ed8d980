//! One passed-through `tools/call`, through the same choke point as a call from `execute`:
//! the operator's policy decides it (allow, deny, or ask the user), the audit trail records
//! it, a `tool_call` span traces it, and only then does it reach its server.

use std::sync::Arc;
use std::time::Instant;

use codemode_audit::{AuditLog, CallOutcome, CallRecord};
use codemode_catalog::gate::cannot_ask_message;
use codemode_catalog::naming::identifier;
use codemode_catalog::policy::{Action, Decision, ToolNames};
use codemode_catalog::Catalog;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequestParams,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::Value;
use tracing::field::Empty;
use tracing::Instrument;

use super::{Direct, SessionRelay};
use crate::approval::ask::{self, Choice};
use crate::approval::resume::random_id;
use crate::audit::audit_action;
use crate::handler::is_stateless;
use crate::session::SessionState;

/// What one call needs from the gateway.
pub(crate) struct DirectCall<'a> {
    pub direct: &'a Direct,
    pub catalog: &'a Catalog,
    pub audit: Option<&'a AuditLog>,
    pub session: &'a Arc<SessionState>,
    /// The server's tool, under its name on the surface.
    pub server: &'a str,
    pub original: &'a str,
    pub tool: &'a Tool,
}

impl DirectCall<'_> {
    pub async fn run(
        self,
        mut request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let namespace = identifier(self.server);
        let tool_ident = identifier(self.original);
        let path = format!("{namespace}.{tool_ident}");
        let span = tracing::info_span!(
            "tool_call",
            tool = %path,
            source = %format!("{}.{}", self.server, self.original),
            direct = true,
            decision = Empty,
            outcome = Empty,
            otel.status_code = Empty,
        );
        codemode_telemetry::set_parent(&span, &context.meta);
        let annotations = self
            .tool
            .annotations
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok());
        let decision = self.catalog.policy().decide(
            &ToolNames {
                namespace: &namespace,
                tool: &tool_ident,
                source_namespace: self.server,
                source_tool: self.original,
            },
            annotations.as_ref(),
        );
        span.record("decision", decision.action.as_str());
        let args = request
            .arguments
            .as_ref()
            .map(|a| Value::Object(a.clone()))
            .unwrap_or(Value::Null);
        let args_text = serde_json::to_vec(&args).unwrap_or_default();
        let started = Instant::now();
        let mut approved_by = None;
        let verdict = match decision.action {
            Action::Allow => Ok(()),
            Action::Deny => Err(decision.denied_message(&path)),
            Action::Ask if self.session.is_granted(&path) => {
                approved_by = Some("session");
                Ok(())
            }
            Action::Ask => match self
                .ask(&path, &decision, &args, context)
                .instrument(span.clone())
                .await
            {
                Choice::Once => {
                    approved_by = Some("user");
                    Ok(())
                }
                Choice::Session => {
                    self.session.grant(&path);
                    approved_by = Some("user");
                    Ok(())
                }
                Choice::Refused(why) => Err(why),
            },
        };
        if let Err(why) = verdict {
            span.record("outcome", "denied");
            self.record(
                &path,
                &args_text,
                &decision,
                CallOutcome::Denied,
                None,
                started,
                0,
                approved_by,
                context,
            );
            return Ok(CallToolResult::error(vec![ContentBlock::text(why)]).into());
        }

        request.name = self.original.to_string().into();
        let relay = Arc::new(SessionRelay {
            peer: context.peer.clone(),
            originating: context.id.clone(),
            capabilities: context.client_capabilities().unwrap_or_default(),
            stateless: is_stateless(context),
            session: self.session.clone(),
        });
        let progress = context.meta.get_progress_token();
        let forward = self
            .direct
            .upstreams()
            .forward_call(self.server, request, relay, progress)
            .instrument(span.clone());
        // A `notifications/cancelled` from the client drops the forward, which cancels the
        // call on the server.
        let reply = tokio::select! {
            reply = forward => reply,
            () = context.ct.cancelled() => {
                span.record("outcome", "cancelled");
                self.record(&path, &args_text, &decision, CallOutcome::Abandoned, None, started, 0, approved_by, context);
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
        };
        let (outcome, kind, bytes) = match &reply {
            Ok(CallToolResponse::Complete(result)) => {
                let bytes = serde_json::to_vec(result)
                    .map(|b| b.len() as u64)
                    .unwrap_or(0);
                if result.is_error == Some(true) {
                    (CallOutcome::Error, Some("tool_error"), bytes)
                } else {
                    (CallOutcome::Ok, None, bytes)
                }
            }
            Ok(_) => (CallOutcome::Ok, None, 0),
            Err(_) => (CallOutcome::Error, Some("transport"), 0),
        };
        span.record("outcome", outcome.as_str());
        if outcome != CallOutcome::Ok {
            span.record("otel.status_code", "ERROR");
        }
        self.record(
            &path,
            &args_text,
            &decision,
            outcome,
            kind,
            started,
            bytes,
            approved_by,
            context,
        );
        reply
    }

    /// Asks the user about a call that needs approval, where the client can be asked.
    async fn ask(
        &self,
        path: &str,
        decision: &Decision,
        args: &Value,
        context: &RequestContext<RoleServer>,
    ) -> Choice {
        let elicits = context
            .client_capabilities()
            .is_some_and(|c| c.elicitation.is_some());
        if !elicits || is_stateless(context) {
            return Choice::Refused(cannot_ask_message(path, decision));
        }
        let mut form = ask::request(path, &decision.reason.to_string(), args, "", true);
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &mut form {
            *message = format!(
                "The agent wants to call {} directly (it needs approval: {}).\nArguments: {}",
                self.tool.name,
                decision.reason,
                ask::summarize(args)
            );
        }
        match context.peer.create_elicitation(form).await {
            Ok(result) => ask::choice(path, &result),
            Err(err) => Choice::Refused(format!(
                "tools.{path} was not approved: asking the user failed ({err})"
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        path: &str,
        args: &[u8],
        decision: &Decision,
        outcome: CallOutcome,
        error_kind: Option<&str>,
        started: Instant,
        result_bytes: u64,
        approved_by: Option<&str>,
        context: &RequestContext<RoleServer>,
    ) {
        let Some(log) = self.audit else { return };
        let mut record = CallRecord::new(
            format!("direct-{}", random_id()),
            path,
            args,
            codemode_audit::Decision {
                action: audit_action(decision.action),
                reason: decision.reason.to_string(),
            },
            outcome,
            started.elapsed(),
        );
        record.session = crate::handler::session_id(context);
        record.source_tool = Some(self.original.to_string());
        record.error_kind = error_kind.map(str::to_string);
        record.result_bytes = result_bytes;
        record.approved_by = crate::audit::approved_by(approved_by, decision.action, outcome);
        log.write(&record.into());
    }
}
