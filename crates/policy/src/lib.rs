//! Per-call policy: for each tool a snippet calls, whether the call goes ahead, is refused,
//! or waits for the user's approval, and the reason in words an operator recognises (the
//! rule that matched, the tool's own annotation, the default).
//!
//! The operator writes it beside `mcpServers`:
//!
//! ```json
//! "policy": { "default": "allow",
//!             "rules": [ { "tools": "github.delete_*", "action": "deny" },
//!                        { "tools": "github.*", "action": "ask", "maxCalls": 10 } ] }
//! ```
//!
//! Rules are tried in order and the first whose glob matches `namespace.tool` (by its
//! TypeScript name or its name at the server) decides. Without a matching rule the tool's
//! MCP annotations decide (`readOnlyHint: true` allows, `destructiveHint: true` asks), then
//! `default`. Read-only mode ([`Policy::read_only`]) denies every tool not marked read-only,
//! whatever a rule says.
//!
//! This crate only decides. It must never run a call, ask anyone, keep per-execution state
//! (the gateway counts `maxCalls`), or know where tools come from.

mod config;
mod glob;

use std::fmt;

use serde_json::Value;

pub use config::PolicyError;
use glob::ToolGlob;

/// What happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
    /// The user decides, call by call (or for the rest of a session).
    Ask,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Ask => "ask",
        }
    }

    fn parse(text: &str) -> Option<Action> {
        match text {
            "allow" => Some(Action::Allow),
            "deny" => Some(Action::Deny),
            "ask" => Some(Action::Ask),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of the config, as written.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The globs as the operator wrote them (`github.*`), for messages.
    pub patterns: Vec<String>,
    pub action: Action,
    /// At most this many calls to each matching tool in one execution.
    pub max_calls: Option<u32>,
    globs: Vec<ToolGlob>,
}

impl Rule {
    /// A rule over `patterns` (each `namespace.tool`, `*` and `?` as globs).
    pub fn new(patterns: &[&str], action: Action) -> Result<Rule, PolicyError> {
        let globs = patterns
            .iter()
            .map(|pattern| ToolGlob::new(pattern))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            action,
            max_calls: None,
            globs,
        })
    }

    pub fn with_max_calls(mut self, max_calls: u32) -> Rule {
        self.max_calls = Some(max_calls);
        self
    }

    fn matches(&self, tool: &ToolNames<'_>) -> bool {
        self.globs
            .iter()
            .any(|glob| tool.spellings().any(|s| glob.matches(&s)))
    }
}

/// The names one tool goes by: TypeScript identifiers and the server's own names.
#[derive(Debug, Clone, Copy)]
pub struct ToolNames<'a> {
    pub namespace: &'a str,
    pub tool: &'a str,
    pub source_namespace: &'a str,
    pub source_tool: &'a str,
}

impl ToolNames<'_> {
    /// `namespace.tool` in every combination of TypeScript and source names.
    fn spellings(&self) -> impl Iterator<Item = String> + '_ {
        let namespaces = [self.namespace, self.source_namespace];
        let tools = [self.tool, self.source_tool];
        namespaces.into_iter().enumerate().flat_map(move |(i, ns)| {
            tools.into_iter().enumerate().filter_map(move |(j, tool)| {
                // Skip spellings equal to one already produced.
                let repeat = (i == 1 && ns == namespaces[0]) || (j == 1 && tool == tools[0]);
                (!repeat).then(|| format!("{ns}.{tool}"))
            })
        })
    }
}

/// Why a decision was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Rule number `index` (from 1, as an operator counts) matched.
    Rule { index: usize, patterns: Vec<String> },
    /// The tool declares `readOnlyHint: true`.
    ReadOnlyHint,
    /// The tool declares `destructiveHint: true`.
    DestructiveHint,
    /// Nothing else applied.
    Default,
    /// Read-only mode, and the tool is not marked read-only.
    ReadOnlyMode,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rule { index, patterns } => {
                write!(f, "policy rule {index} ({})", patterns.join(", "))
            }
            Reason::ReadOnlyHint => f.write_str("the tool's readOnlyHint"),
            Reason::DestructiveHint => f.write_str("the tool's destructiveHint"),
            Reason::Default => f.write_str("the policy default"),
            Reason::ReadOnlyMode => f.write_str("read-only mode (--read-only)"),
        }
    }
}

/// What the policy says about one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: Reason,
    /// The matching rule's cap on calls per execution.
    pub max_calls: Option<u32>,
}

impl Decision {
    /// A call the policy lets through without a word: the default of a gateway with no
    /// policy.
    pub fn allowed() -> Decision {
        Decision {
            action: Action::Allow,
            reason: Reason::Default,
            max_calls: None,
        }
    }

    /// What a denied call throws, in the snippet's names (`tools.github.delete_repo`).
    pub fn denied_message(&self, path: &str) -> String {
        match self.reason {
            Reason::ReadOnlyMode => format!(
                "tools.{path} is denied: the gateway runs in read-only mode (--read-only) and \
                 this tool is not marked readOnlyHint"
            ),
            _ => format!("tools.{path} is denied by {}", self.reason),
        }
    }
}

/// The operator's policy. The default allows everything.
#[derive(Debug, Clone)]
pub struct Policy {
    pub default: Action,
    pub rules: Vec<Rule>,
    pub read_only: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default: Action::Allow,
            rules: Vec::new(),
            read_only: false,
        }
    }
}

impl Policy {
    /// The policy of a config's `policy` object.
    pub fn from_config(value: &Value) -> Result<Policy, PolicyError> {
        config::parse(value)
    }

    /// Denies every tool not marked `readOnlyHint: true`, over any rule.
    pub fn read_only(mut self, read_only: bool) -> Policy {
        self.read_only = read_only;
        self
    }

    /// Whether the policy can say anything but "allow".
    pub fn is_permissive(&self) -> bool {
        !self.read_only && self.default == Action::Allow && self.rules.is_empty()
    }

    /// The decision for a tool, from its names and its MCP `annotations`.
    pub fn decide(&self, tool: &ToolNames<'_>, annotations: Option<&Value>) -> Decision {
        let hint = |name: &str| {
            annotations
                .and_then(|a| a.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let read_only_hint = hint("readOnlyHint");
        if self.read_only && !read_only_hint {
            return Decision {
                action: Action::Deny,
                reason: Reason::ReadOnlyMode,
                max_calls: None,
            };
        }
        if let Some((index, rule)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(tool))
        {
            return Decision {
                action: rule.action,
                reason: Reason::Rule {
                    index: index + 1,
                    patterns: rule.patterns.clone(),
                },
                max_calls: rule.max_calls,
            };
        }
        let (action, reason) = if read_only_hint {
            (Action::Allow, Reason::ReadOnlyHint)
        } else if hint("destructiveHint") {
            (Action::Ask, Reason::DestructiveHint)
        } else {
            (self.default, Reason::Default)
        };
        Decision {
            action,
            reason,
            max_calls: None,
        }
    }
}

#[cfg(test)]
mod tests;
