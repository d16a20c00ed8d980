//! How the upstream servers' states read to a person: the start-up line of `serve` and the
//! table of `doctor --config`.

use std::fmt::Write as _;

use codemode_upstream::{ServerState, ServerStatus};

/// Characters of one unavailable server's reason in the start-up line.
const REASON_CHARS: usize = 160;

/// `upstreams: 2 of 3 ready (25 tools: everything 13, git 12); unavailable: crasher (...)`.
pub fn upstreams_line(servers: &[ServerStatus]) -> String {
    let enabled: Vec<&ServerStatus> = servers
        .iter()
        .filter(|s| s.state != ServerState::Disabled)
        .collect();
    let ready: Vec<&ServerStatus> = enabled
        .iter()
        .copied()
        .filter(|s| is_up(&s.state))
        .collect();
    let tools: usize = ready.iter().map(|s| s.tools).sum();
    let mut line = format!(
        "upstreams: {} of {} ready ({tools} tools",
        ready.len(),
        enabled.len()
    );
    if !ready.is_empty() {
        let each: Vec<String> = ready
            .iter()
            .map(|s| format!("{} {}", s.name, s.tools))
            .collect();
        let _ = write!(line, ": {}", each.join(", "));
    }
    line.push(')');
    let down: Vec<String> = enabled
        .iter()
        .filter(|s| !is_up(&s.state))
        .map(|s| format!("{} ({})", s.name, clip(&state_text(s), REASON_CHARS)))
        .collect();
    if !down.is_empty() {
        let _ = write!(line, "; unavailable: {}", down.join("; "));
    }
    let disabled = servers.len() - enabled.len();
    if disabled > 0 {
        let _ = write!(line, "; {disabled} disabled");
    }
    line
}

fn is_up(state: &ServerState) -> bool {
    matches!(state, ServerState::Ready | ServerState::Restarting { .. })
}

/// One server's state in words.
pub fn state_text(server: &ServerStatus) -> String {
    match &server.state {
        ServerState::Ready => "ready".to_string(),
        ServerState::Starting => "still starting".to_string(),
        ServerState::Disabled => "disabled in the config".to_string(),
        ServerState::Stopped => "shut down".to_string(),
        ServerState::Restarting { reason, attempt } => {
            format!("restarting (attempt {attempt}) after: {reason}")
        }
        ServerState::Failed { reason } if server.retrying => format!("{reason} (retrying)"),
        ServerState::Failed { reason } => reason.clone(),
    }
}

fn clip(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}
