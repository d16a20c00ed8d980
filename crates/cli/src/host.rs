//! Wiring: from an optional config file to a live [`Catalog`] (and the upstream servers
//! behind it) and the limits in force, shared by `run`, `serve`, `types`, `search`,
//! `tokens` and `doctor`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use codemode_catalog::policy::Policy;
use codemode_catalog::{Catalog, ToolSource};
use codemode_demo::DemoSource;
use codemode_gateway::{AuditLog, AuditOptions, CodeMode, KeyRing};
use codemode_openapi::{parse_openapi_configs, OpenApiSource};
use codemode_sandbox::Limits;
use codemode_upstream::{AuditSettings, Config, LimitSettings, Options, UpstreamSource, Upstreams};

/// The environment variable naming the config file when `--config` is absent.
pub const CONFIG_ENV: &str = "CODEMODE_CONFIG";

/// The per-execution limits an operator can set on `serve` and `run`; each wins over the
/// config file's `codemode.limits`, which wins over the defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// CPU time one execution may burn, e.g. `500ms`, `10s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub cpu_time: Option<Duration>,
    /// Wall-clock time for one execution, waiting on tools included, e.g. `30s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wall_time: Option<Duration>,
    /// JavaScript heap one execution may hold, e.g. `256MiB`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,
    /// Tool calls one execution may make.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tool_calls: Option<u64>,
    /// Bytes of JSON the returned value may take before it is truncated, e.g. `64KiB`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_result_bytes: Option<u64>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    codemode_upstream::parse_duration(text)
}

fn parse_size(text: &str) -> Result<u64, String> {
    codemode_upstream::parse_size(text)
}

impl LimitArgs {
    /// Flags over the config's settings over [`Limits::default`].
    pub fn resolve(&self, settings: &LimitSettings) -> Limits {
        let defaults = Limits::default();
        let size = |bytes: u64| usize::try_from(bytes).unwrap_or(usize::MAX);
        Limits {
            cpu_time: self
                .cpu_time
                .or(settings.cpu_time)
                .unwrap_or(defaults.cpu_time),
            wall_time: self
                .wall_time
                .or(settings.wall_time)
                .unwrap_or(defaults.wall_time),
            memory_bytes: self
                .memory
                .or(settings.memory_bytes)
                .map_or(defaults.memory_bytes, size),
            max_tool_calls: self
                .max_tool_calls
                .or(settings.max_tool_calls)
                .map_or(defaults.max_tool_calls, size),
            max_result_bytes: self
                .max_result_bytes
                .or(settings.max_result_bytes)
                .map_or(defaults.max_result_bytes, size),
            ..defaults
        }
    }
}

/// Whether loading waits for every upstream's first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// Return at once; servers join the catalogue as they come up (`serve`, `run`).
    Background,
    /// Return once each server is ready or has failed (`types`, `search`, `tokens`,
    /// `doctor`, which report the whole catalogue).
    Wait,
}

/// A catalogue, the limits in force, and what keeps them alive.
pub struct Loaded {
    pub catalog: Catalog,
    pub limits: Limits,
    /// The config's policy (the default allows all), already set on the catalogue.
    pub policy: Policy,
    /// The keys that seal 2026-07-28 approval state, when the config names some.
    pub approval_keys: Option<Arc<KeyRing>>,
    pub approval_ttl: Option<Duration>,
    /// `codemode.audit` from the config.
    pub audit: AuditSettings,
    upstreams: Option<Upstreams>,
    /// The OpenAPI specs loading in the background, when the config names some.
    specs: Option<Arc<OpenApiSource>>,
}

/// What `serve` and `run` add to the config's policy.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PolicyArgs {
    /// Deny every tool call whose tool is not marked `readOnlyHint: true`, whatever the
    /// config's policy says.
    #[arg(long)]
    pub read_only: bool,
}

/// Where `serve` and `run` keep the audit trail; each wins over the config's
/// `codemode.audit`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditArgs {
    /// Append one JSON line per execution and per tool call to FILE (rotated by size; read
    /// it with `codemode audit FILE`).
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Whether audit records keep each snippet's code (`full`) or only its SHA-256 (`hash`).
    #[arg(long, value_name = "full|hash")]
    pub audit_code: Option<CodeMode>,
}

impl Loaded {
    /// Waits until every server has made its first attempt and every spec has loaded (or
    /// failed), for at most `bound`; whether they all did. What is still starting then
    /// joins the catalogue when it comes up.
    pub async fn settle_within(&self, bound: Duration) -> bool {
        let settled = async {
            if let Some(upstreams) = &self.upstreams {
                upstreams.first_attempts().await;
            }
            if let Some(specs) = &self.specs {
                specs.settled().await;
            }
        };
        tokio::time::timeout(bound, settled).await.is_ok()
    }

    /// The audit log the flags and the config ask for; `Err` says why it cannot be opened.
    pub fn audit_log(&self, args: &AuditArgs) -> Result<Option<AuditLog>, String> {
        let Some(path) = args.audit.clone().or_else(|| self.audit.path.clone()) else {
            return Ok(None);
        };
        let defaults = AuditOptions::default();
        let code = match (args.audit_code, self.audit.code.as_deref()) {
            (Some(mode), _) => mode,
            (None, Some(mode)) => mode.parse().unwrap_or(defaults.code),
            (None, None) => defaults.code,
        };
        let options = AuditOptions {
            max_bytes: self.audit.max_bytes.unwrap_or(defaults.max_bytes),
            keep: self.audit.keep.unwrap_or(defaults.keep),
            code,
        };
        AuditLog::open(path, options)
            .map(Some)
            .map_err(|e| format!("--audit: {e}"))
    }

    /// Applies `--read-only` over the config's policy.
    pub fn apply(&self, args: &PolicyArgs) {
        if args.read_only {
            self.catalog.set_policy(self.policy.clone().read_only(true));
        }
    }

    /// The upstream servers, when a config is in use.
    pub fn upstreams(&self) -> Option<&Upstreams> {
        self.upstreams.as_ref()
    }

    /// Stops every upstream child process and connection.
    pub async fn shutdown(self) {
        if let Some(upstreams) = self.upstreams {
            upstreams.shutdown().await;
        }
    }
}

/// `--config`, else `$CODEMODE_CONFIG`, else none (the demo tools).
pub fn config_path(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}

/// [`load`] for a command: a config that cannot be used is printed on stderr and becomes
/// exit code 2.
pub async fn load_or_exit(
    config: Option<&Path>,
    limits: &LimitArgs,
    startup: Startup,
) -> Result<Loaded, ExitCode> {
    load(config, limits, startup).await.map_err(|message| {
        eprintln!("codemode: {message}");
        ExitCode::from(2)
    })
}

/// With no config, the built-in demo tools; with one, every server it lists (started in
/// parallel; a server that fails, or whose entry is invalid, is listed as unavailable with
/// its reason and the rest serve).
pub async fn load(
    config: Option<&Path>,
    limit_args: &LimitArgs,
    startup: Startup,
) -> Result<Loaded, String> {
    let Some(path) = config_path(config) else {
        return Ok(Loaded {
            catalog: Catalog::new(vec![Arc::new(DemoSource::new())]),
            limits: limit_args.resolve(&LimitSettings::default()),
            policy: Policy::default(),
            approval_keys: None,
            approval_ttl: None,
            audit: AuditSettings::default(),
            upstreams: None,
            specs: None,
        });
    };
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    let limits = limit_args.resolve(&config.limits);
    // A policy the gateway cannot read must not start it: it would allow what was meant
    // to be denied.
    let policy = match &config.policy {
        Some(value) => Policy::from_config(value).map_err(|e| format!("{}: {e}", config.origin))?,
        None => Policy::default(),
    };
    let approval_keys = if config.approvals.keys.is_empty() {
        None
    } else {
        let ring = KeyRing::new(
            config
                .approvals
                .keys
                .iter()
                .map(|(id, secret)| (id.as_str(), secret.as_bytes())),
        )
        .map_err(|e| format!("{}: codemode.approvals.keys: {e}", config.origin))?;
        Some(Arc::new(ring))
    };
    let openapi = match &config.openapi {
        None => None,
        Some(section) => {
            let base_dir = config
                .base_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("."));
            let configs =
                parse_openapi_configs(section, &base_dir, &|name| std::env::var(name).ok())
                    .map_err(|e| format!("{}: {e}", config.origin))?;
            Some(configs)
        }
    };
    let upstreams = Upstreams::launch(&config, Options::default());
    let mut sources: Vec<Arc<dyn ToolSource>> = vec![Arc::new(UpstreamSource::new(
        upstreams.clone(),
        limits.wall_time,
    ))];
    let mut specs = None;
    if let Some(configs) = &openapi {
        // Specs load in the background as servers start; `Wait` waits for both.
        let source = Arc::new(OpenApiSource::start(configs));
        if startup == Startup::Wait {
            source.settled().await;
        }
        sources.push(source.clone());
        specs = Some(source);
    }
    if startup == Startup::Wait {
        upstreams.first_attempts().await;
    }
    let catalog = Catalog::new(sources);
    catalog.watch_sources();
    crate::memory::trim_after_changes(&catalog);
    catalog.set_policy(policy.clone());
    Ok(Loaded {
        catalog,
        limits,
        policy,
        approval_keys,
        approval_ttl: config.approvals.ttl,
        audit: config.audit.clone(),
        upstreams: Some(upstreams),
        specs,
    })
}
