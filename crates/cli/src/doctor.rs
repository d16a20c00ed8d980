//! `codemode doctor [--config FILE]`: what this machine gives the sandbox, and, with a
//! config, whether each upstream starts, with its tool count and start time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use codemode_confine::LayerState;
use codemode_upstream::ServerState;

use crate::host::{self, LimitArgs, Startup};
use crate::summary::state_text;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Also start the upstream servers of this config (default `$CODEMODE_CONFIG`) and
    /// report each one's health.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub async fn doctor(args: DoctorArgs) -> ExitCode {
    let report = codemode_confine::probe();
    print!("{report}");
    let mut healthy = !report
        .layers
        .iter()
        .any(|(_, state)| matches!(state, LayerState::Failed(_)));
    if host::config_path(args.config.as_deref()).is_some() {
        let started = Instant::now();
        let loaded =
            match host::load_or_exit(args.config.as_deref(), &LimitArgs::default(), Startup::Wait)
                .await
            {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
        let servers = loaded
            .upstreams()
            .map(|upstreams| upstreams.servers())
            .unwrap_or_default();
        println!();
        println!(
            "upstreams ({} in {:.1} s):",
            servers.len(),
            started.elapsed().as_secs_f64()
        );
        let width = servers.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for server in &servers {
            let line = match server.state {
                ServerState::Ready => format!(
                    "ready, {} tools, started in {} ms, {} (MCP {})",
                    server.tools,
                    server.ready_after.map_or(0, |d| d.as_millis()),
                    server.transport,
                    server.protocol.as_deref().unwrap_or("?")
                ),
                ServerState::Disabled => "disabled".to_string(),
                _ => {
                    healthy = false;
                    format!("UNAVAILABLE: {}", state_text(server))
                }
            };
            let line = line + &passthrough_text(server);
            println!("  {:width$}  {line}", server.name);
        }
        loaded.shutdown().await;
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What of a server is served to the client directly, for its doctor line.
fn passthrough_text(server: &codemode_upstream::ServerStatus) -> String {
    let mut text = String::new();
    if server.passes_everything {
        text.push_str("; passed through: everything");
    } else if server.direct_tools > 0 {
        text.push_str(&format!(
            "; passed through: {} tool{}",
            server.direct_tools,
            if server.direct_tools == 1 { "" } else { "s" }
        ));
    }
    if !server.code_mode {
        text.push_str(", not in execute");
    }
    text
}
