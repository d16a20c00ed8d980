//! The config file: the formats users have, `${VAR}` secrets, our own fields and limits, one
//! bad entry costing only itself, and errors that point at the file, the entry and the field.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codemode_upstream::{
    parse_duration, parse_size, BrokenEntry, Config, ConfigError, LimitSettings, Passthrough,
    Protocol, StdioServer, ToolFilter, Transport, DEFAULT_STARTUP_TIMEOUT,
};

fn env(name: &str) -> Option<String> {
    match name {
        "GITHUB_TOKEN" => Some("ghp_secret".to_owned()),
        "HOME" => Some("/home/u".to_owned()),
        "PORT" => Some("8931".to_owned()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "config.json", env)
}

/// The message of a config file that is rejected as a whole.
fn error(text: &str) -> String {
    parse(text)
        .expect_err("config should be rejected")
        .to_string()
}

/// The reason of the one entry of `text`, which must be broken (the file itself parses).
fn broken(text: &str) -> String {
    let config = parse(text).expect("a bad entry must not fail the whole file");
    assert!(config.servers.is_empty(), "{config:?}");
    match config.broken.as_slice() {
        [entry] => entry.reason.clone(),
        other => panic!("expected one broken entry, got {other:?}"),
    }
}

fn stdio<'a>(config: &'a Config, name: &str) -> &'a StdioServer {
    match &config
        .server(name)
        .unwrap_or_else(|| panic!("no server {name}: {config:?}"))
        .transport
    {
        Transport::Stdio(spec) => spec,
        other => panic!("{name} should be stdio: {other:?}"),
    }
}

/// Runs `f` with `tracing` output captured, and returns both.
fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink(Arc::default());
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let value = {
        use tracing_subscriber::util::SubscriberInitExt as _;
        let _guard = subscriber.set_default();
        f()
    };
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (value, logs)
}

#[test]
fn claude_desktop_format_with_stdio_and_http_entries() {
    let config = parse(
        r#"{
          "mcpServers": {
            "memory": {
              "command": "npx",
              "args": ["-y", "@modelcontextprotocol/server-memory"],
              "env": {"MEMORY_FILE_PATH": "${HOME}/memory.json"},
              "cwd": "/tmp"
            },
            "github": {
              "url": "http://localhost:${PORT}/mcp",
              "headers": {"Authorization": "Bearer ${env:GITHUB_TOKEN}"}
            }
          }
        }"#,
    )
    .unwrap();
    assert_eq!(config.servers.len(), 2);

    let memory = config.server("memory").unwrap();
    let Transport::Stdio(spec) = &memory.transport else {
        panic!("memory should be stdio: {memory:?}");
    };
    assert_eq!(spec.command, "npx");
    assert_eq!(spec.args, ["-y", "@modelcontextprotocol/server-memory"]);
    assert_eq!(spec.env["MEMORY_FILE_PATH"], "/home/u/memory.json");
    assert_eq!(spec.cwd.as_deref(), Some(std::path::Path::new("/tmp")));
    assert!(!memory.disabled);
    assert_eq!(memory.tools, ToolFilter::All);
    assert_eq!(memory.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
    assert_eq!(memory.call_timeout, None);
    assert_eq!(memory.protocol, Protocol::Auto);

    let github = config.server("github").unwrap();
    let Transport::StreamableHttp(spec) = &github.transport else {
        panic!("github should be Streamable HTTP: {github:?}");
    };
    assert_eq!(spec.url, "http://localhost:8931/mcp");
    assert_eq!(spec.headers["Authorization"], "Bearer ghp_secret");
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let config = parse(
        r#"{"mcpServers": {
            "a": {"command": "x", "env": {"TOKEN": "${GITHUB_TOKEN}"}},
            "b": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}}
        }}"#,
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("ghp_secret"), "{debug}");
    assert!(
        debug.contains("TOKEN") && debug.contains("Authorization"),
        "{debug}"
    );
}

#[test]
fn vs_code_format_with_types_and_comments() {
    let config = parse(
        r#"{
          // VS Code writes JSONC
          "servers": {
            "local": { "type": "stdio", "command": "uvx", "args": ["mcp-server-time"] },
            /* remote ones */
            "remote": { "type": "http", "url": "https://example.com/mcp" },
            "old": { "type": "sse", "url": "https://example.com/sse" }
          },
          "inputs": []
        }"#,
    )
    .unwrap();
    assert!(matches!(
        config.server("local").unwrap().transport,
        Transport::Stdio(_)
    ));
    assert!(matches!(
        config.server("remote").unwrap().transport,
        Transport::StreamableHttp(_)
    ));
    assert!(matches!(
        config.server("old").unwrap().transport,
        Transport::Sse(_)
    ));
}

#[test]
fn our_own_fields() {
    let config = parse(
        r#"{"mcpServers": {
            "a": {"command": "x", "disabled": true, "tools": {"allow": ["read", "list"]},
                  "startupTimeoutMs": 5000, "callTimeoutMs": 1500},
            "b": {"command": "y", "tools": {"hide": ["delete"]}, "autoApprove": ["read"]}
        }}"#,
    )
    .unwrap();
    let a = config.server("a").unwrap();
    assert!(a.disabled);
    assert_eq!(
        a.tools,
        ToolFilter::Allow(BTreeSet::from(["read".to_owned(), "list".to_owned()]))
    );
    assert!(a.tools.permits("read") && !a.tools.permits("delete"));
    assert_eq!(a.startup_timeout, Duration::from_millis(5000));
    assert_eq!(a.call_timeout, Some(Duration::from_millis(1500)));
    let b = config.server("b").unwrap();
    assert!(!b.tools.permits("delete") && b.tools.permits("read"));
}

/// `"protocol"` picks the MCP era: `auto` (the default), or one pinned by its version.
#[test]
fn protocol_field() {
    let config = parse(
        r#"{"mcpServers": {
            "default": {"url": "https://h/mcp"},
            "auto": {"command": "x", "protocol": "auto"},
            "modern": {"url": "https://h/mcp", "protocol": "2026-07-28"},
            "modern-stdio": {"command": "x", "protocol": "2026-07-28"},
            "legacy": {"command": "x", "protocol": "2025-11-25"},
            "old-sse": {"type": "sse", "url": "https://h/sse", "protocol": "2025-11-25"}
        }}"#,
    )
    .unwrap();
    for (name, protocol) in [
        ("default", Protocol::Auto),
        ("auto", Protocol::Auto),
        ("modern", Protocol::Discover),
        ("modern-stdio", Protocol::Discover),
        ("legacy", Protocol::Initialize),
        ("old-sse", Protocol::Initialize),
    ] {
        assert_eq!(config.server(name).unwrap().protocol, protocol, "{name}");
    }
    assert_eq!(Protocol::Discover.as_config_value(), "2026-07-28");
    assert_eq!(Protocol::Initialize.as_config_value(), "2025-11-25");
    assert_eq!(Protocol::Auto.as_config_value(), "auto");

    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "protocol": "2025-06-18"}}}"#),
        r#"mcpServers.a.protocol: unknown protocol "2025-06-18": expected "auto", "2026-07-28" or "2025-11-25""#
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "protocol": 2026}}}"#),
        "mcpServers.a.protocol: expected a string, found a number"
    );
    assert!(broken(
        r#"{"mcpServers": {"a": {"type": "sse", "url": "https://h/sse", "protocol": "2026-07-28"}}}"#
    )
    .starts_with("mcpServers.a.protocol: the legacy HTTP+SSE transport"));
}

#[test]
fn wrong_field_types_name_entry_and_field() {
    assert_eq!(
        broken(r#"{"mcpServers": {"memory": {"command": "npx", "args": 3}}}"#),
        "mcpServers.memory.args: expected an array of strings, found a number"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"memory": {"command": "npx", "args": ["-y", false]}}}"#),
        "mcpServers.memory.args[1]: expected a string, found a boolean"
    );
    assert_eq!(
        broken(r#"{"servers": {"my server": {"command": "x", "env": {"A": 1}}}}"#),
        r#"servers["my server"].env.A: expected a string, found a number"#
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "callTimeoutMs": -5}}}"#),
        "mcpServers.a.callTimeoutMs: expected a positive whole number of milliseconds, found a number"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}"#),
        "mcpServers.a.disabled: expected true or false, found a string"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": "npx server"}}"#),
        "mcpServers.a: expected an object, found a string"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"": {"command": "x"}}}"#),
        r#"mcpServers[""]: server names must not be empty"#
    );
}

#[test]
fn transport_problems() {
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"args": []}}}"#),
        "mcpServers.a: needs `command` (a stdio server) or `url` (an HTTP server)"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "url": "http://h/"}}}"#),
        "mcpServers.a: has both `command` and `url`; add `\"type\"` or keep one"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"type": "ws", "url": "ws://h/"}}}"#),
        r#"mcpServers.a.type: unknown transport "ws": expected "stdio", "http" or "sse""#
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"url": "ftp://h/x"}}}"#),
        "mcpServers.a.url: expected an http:// or https:// URL, found a ftp: URL"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"type": "http", "command": "x"}}}"#),
        "mcpServers.a: an HTTP server needs `url`"
    );
}

#[test]
fn passthrough_and_code_mode_fields() {
    let config = parse(
        r#"{"mcpServers": {
            "all": {"command": "x", "passthrough": true},
            "some": {"command": "x", "passthrough": ["read_*", "get_file"]},
            "direct": {"command": "x", "passthrough": true, "codeMode": false},
            "none": {"command": "x", "passthrough": false}
        }}"#,
    )
    .expect("valid");
    let server = |name| config.server(name).expect("listed");
    assert_eq!(server("all").passthrough, Passthrough::All);
    assert!(server("all").code_mode, "code mode stays on by default");
    let some = &server("some").passthrough;
    assert!(some.serves_tool("read_text") && some.serves_tool("get_file"));
    assert!(!some.serves_tool("write_file") && !some.serves_everything());
    assert!(server("all").passthrough.serves_everything());
    assert!(!server("direct").code_mode);
    assert_eq!(server("none").passthrough, Passthrough::Off);

    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "passthrough": "yes"}}}"#),
        "mcpServers.a.passthrough: expected true, false, or an array of tool-name globs such as \
         [\"read_*\"], found a string"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "passthrough": [3]}}}"#),
        "mcpServers.a.passthrough[0]: expected a tool-name glob (string), found a number"
    );
    assert!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "passthrough": ["read_[x"]}}}"#)
            .starts_with("mcpServers.a.passthrough: "),
    );
    assert!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "codeMode": false}}}"#)
            .contains("add `\"passthrough\": true`")
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "passthrough": true, "codeMode": 0}}}"#),
        "mcpServers.a.codeMode: expected true or false, found a number"
    );
}

#[test]
fn tool_filter_shape() {
    assert_eq!(
        broken(
            r#"{"mcpServers": {"a": {"command": "x", "tools": {"allow": ["r"], "hide": ["w"]}}}}"#
        ),
        "mcpServers.a.tools: `allow` and `hide` cannot be combined"
    );
    assert!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "tools": {"deny": []}}}}"#)
            .starts_with("mcpServers.a.tools.deny: unknown key")
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "tools": {"allow": [1]}}}}"#),
        "mcpServers.a.tools.allow[0]: expected a tool name (string), found a number"
    );
}

#[test]
fn unset_variables_are_named_and_never_passed_on() {
    assert_eq!(
        broken(
            r#"{"mcpServers": {"gh": {"url": "https://h/mcp", "headers": {"Authorization": "Bearer ${GH_PAT}"}}}}"#
        ),
        "mcpServers.gh.headers.Authorization: environment variable `GH_PAT` is not set"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "env": {"K": "${env:API_KEY}"}}}}"#),
        "mcpServers.a.env.K: environment variable `API_KEY` is not set"
    );
    let reason = broken(r#"{"servers": {"a": {"command": "x", "env": {"K": "${input:key}"}}}}"#);
    assert!(
        reason.starts_with("servers.a.env.K: ") && reason.contains("editor variable"),
        "{reason}"
    );
}

#[test]
fn json_syntax_errors_give_line_and_column() {
    let err = parse("{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\" \"args\": []}\n  }\n}")
        .unwrap_err();
    match &err {
        // (3, 26) is the `"` of `"args"`, where a comma was expected.
        ConfigError::Syntax { line, column, .. } => assert_eq!((*line, *column), (3, 26)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("config.json:3:26: invalid JSON: "),
        "{err}"
    );
}

#[test]
fn top_level_shape() {
    assert!(error(r#"{"mcp": {}}"#).contains("no `mcpServers` object"));
    assert!(error(r#"{"mcpServers": {}, "servers": {}}"#).contains("keep one"));
    assert_eq!(
        error(r#"{"mcpServers": []}"#),
        "config.json: mcpServers: expected an object of servers, found an array"
    );
    assert_eq!(parse(r#"{"mcpServers": {}}"#).unwrap().servers.len(), 0);
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let err = Config::load(&missing).unwrap_err().to_string();
    assert!(err.starts_with(&missing.display().to_string()), "{err}");

    let path = dir.path().join("mcp.json");
    std::fs::write(&path, r#"{"mcpServers": {"a": {"command": 1}}}"#).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.origin, path.display().to_string());
    assert_eq!(
        config.broken,
        [BrokenEntry {
            name: "a".to_owned(),
            reason: "mcpServers.a.command: expected a string, found a number".to_owned(),
        }]
    );

    std::fs::write(&path, "{\"mcpServers\": {}\n,,}").unwrap();
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2:2: invalid JSON: ", path.display())),
        "{err}"
    );

    std::fs::write(
        &path,
        r#"{"mcpServers": {}, "codemode": {"limits": {"memory": "lots"}}}"#,
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: codemode.limits.memory: invalid size \"lots\"",
            path.display()
        )),
        "{err}"
    );
}

/// An entry that cannot be used is left out, listed with its reason and logged once; the
/// others work.
#[test]
fn one_bad_entry_costs_only_itself() {
    let text = r#"{"mcpServers": {
        "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},
        "github": {"url": "https://api.example.com/mcp",
                   "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}},
        "typo": {"comand": "uvx"},
        "remote": {"url": "not a url"},
        "time": {"command": "uvx", "args": ["mcp-server-time"], "startupTimeoutMs": "5s"},
        "fetch": {"command": "uvx", "args": ["mcp-server-fetch"]}
    }}"#;
    let no_token = |name: &str| (name != "GITHUB_TOKEN").then(|| "x".to_owned());
    let (config, logs) = with_logs(|| Config::parse(text, "config.json", no_token).unwrap());

    let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["memory", "fetch"]);
    assert!(config.server("memory").is_some() && config.server("github").is_none());
    let broken: Vec<(&str, &str)> = config
        .broken
        .iter()
        .map(|b| (b.name.as_str(), b.reason.as_str()))
        .collect();
    assert_eq!(broken[0], (
        "github",
        "mcpServers.github.headers.Authorization: environment variable `GITHUB_TOKEN` is not set",
    ));
    assert_eq!(
        broken[1],
        (
            "typo",
            "mcpServers.typo: needs `command` (a stdio server) or `url` (an HTTP server)",
        )
    );
    assert_eq!(broken[2].0, "remote");
    assert!(
        broken[2]
            .1
            .starts_with("mcpServers.remote.url: not a valid URL"),
        "{broken:?}"
    );
    assert_eq!(broken[3], (
        "time",
        "mcpServers.time.startupTimeoutMs: expected a positive whole number of milliseconds, found a string",
    ));
    assert_eq!(broken.len(), 4);

    // Each broken entry is logged once, with its reason and the file.
    for (name, reason) in &broken {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(reason)).collect();
        assert_eq!(lines.len(), 1, "{name}: {logs}");
        assert!(
            lines[0].contains("WARN") && lines[0].contains("config.json"),
            "{logs}"
        );
    }
}

/// A file that cannot be read as a whole is still an error, however good its entries.
#[test]
fn document_problems_stay_errors() {
    assert_eq!(
        error(r#"[{"mcpServers": {}}]"#),
        "config.json: (top level): expected an object, found an array"
    );
    assert!(
        error(r#"{"mcpServers": {"a": {"command": "x"}}, "servers": {}}"#).contains("keep one")
    );
    assert!(error(r#"{"codemode": {"limits": {}}}"#).contains("no `mcpServers` object"));
    assert!(matches!(
        parse(r#"{"mcpServers": {"a": {"command": "x"}"#),
        Err(ConfigError::Syntax { .. })
    ));
}

/// A mcp.json as VS Code writes and users edit it: comments and trailing commas.
#[test]
fn vs_code_jsonc_with_trailing_commas() {
    let config = parse(
        r#"// Workspace MCP servers (.vscode/mcp.json)
{
  "inputs": [
    {
      "type": "promptString",
      "id": "api-key",
      "description": "API key, with a trailing comma in a string: ,}",
      "password": true,
    },
  ],
  "servers": {
    /* local tools */
    "time": {
      "type": "stdio",
      "command": "uvx",
      "args": ["mcp-server-time", "--local-timezone=Europe/Paris",], // trailing comma
    },
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/", // a URL, not a comment
      "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}",},
    },
  },
}
"#,
    )
    .unwrap();
    assert!(config.broken.is_empty(), "{config:?}");
    assert_eq!(
        stdio(&config, "time").args,
        ["mcp-server-time", "--local-timezone=Europe/Paris"]
    );
    let Transport::StreamableHttp(github) = &config.server("github").unwrap().transport else {
        panic!("github should be Streamable HTTP");
    };
    assert_eq!(github.url, "https://api.githubcopilot.com/mcp/");
    assert_eq!(github.headers["Authorization"], "Bearer ghp_secret");

    // Commas inside strings are data, never trailing commas.
    let config =
        parse(r#"{"mcpServers": {"a": {"command": "x", "args": [",]", "a\",}"]}}}"#).unwrap();
    assert_eq!(stdio(&config, "a").args, [",]", "a\",}"]);
}

/// Blanking comments and trailing commas keeps line and column numbers right, and a comma
/// that is not trailing (`[,]`, `,,`) is still an error.
#[test]
fn syntax_errors_after_comments_and_trailing_commas_keep_their_position() {
    let text = "{\n  // servers\n  \"servers\": {\"a\": {\"command\": \"x\",},},\n  /* x */ \"inputs\": [,]\n}";
    match parse(text).unwrap_err() {
        // (4, 22) is the comma right after `[`.
        ConfigError::Syntax { line, column, .. } => assert_eq!((line, column), (4, 22)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    match parse("{\"servers\": {\"a\": {\"command\": \"x\",,}}}").unwrap_err() {
        ConfigError::Syntax { line, column, .. } => assert_eq!((line, column), (1, 35)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    match parse("{\"servers\": {}, /* never closed").unwrap_err() {
        ConfigError::Syntax { line, .. } => assert_eq!(line, 1),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn inherit_env() {
    let (config, logs) = with_logs(|| {
        parse(
            r#"{"mcpServers": {
                "aws": {"command": "x", "inheritEnv": ["AWS_PROFILE", "AWS_*", "*"]},
                "token": {"command": "x", "inheritEnv": ["CODEMODE_TOKEN"]},
                "pattern": {"command": "x", "inheritEnv": ["CODEMODE_*"]},
                "none": {"command": "x"},
                "http": {"url": "https://h/mcp", "inheritEnv": ["HOME"]}
            }}"#,
        )
        .unwrap()
    });
    assert_eq!(
        stdio(&config, "aws").inherit_env,
        ["AWS_PROFILE", "AWS_*", "*"]
    );
    assert_eq!(stdio(&config, "token").inherit_env, ["CODEMODE_TOKEN"]);
    assert_eq!(stdio(&config, "pattern").inherit_env, ["CODEMODE_*"]);
    assert!(stdio(&config, "none").inherit_env.is_empty());
    assert!(format!("{config:?}").contains("AWS_PROFILE"));

    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    let about = |field: &str| warnings.iter().filter(|l| l.contains(field)).count();
    // An exact gateway variable is an explicit opt-in, warned about; a prefix pattern on the
    // gateway's prefix matches nothing, which is warned about too.
    assert_eq!(about("mcpServers.token.inheritEnv[0]"), 1, "{logs}");
    assert!(logs.contains("gateway's own variables"), "{logs}");
    assert_eq!(about("mcpServers.pattern.inheritEnv[0]"), 1, "{logs}");
    assert!(logs.contains("never matches"), "{logs}");
    assert_eq!(about("mcpServers.http.inheritEnv"), 1, "{logs}");
    assert_eq!(about("mcpServers.aws"), 0, "{logs}");

    for (value, reason) in [
        (
            r#""HOME""#,
            "mcpServers.a.inheritEnv: expected an array of environment variable names, found a string",
        ),
        (
            r#"["HOME", 3]"#,
            "mcpServers.a.inheritEnv[1]: expected a variable name (string), found a number",
        ),
        (r#"[""]"#, "mcpServers.a.inheritEnv[0]: must not be empty"),
        (
            r#"["AWS_*_KEY"]"#,
            r#"mcpServers.a.inheritEnv[0]: "AWS_*_KEY": `*` may only end a name, as in a prefix pattern like `AWS_*`"#,
        ),
        (
            r#"["**"]"#,
            r#"mcpServers.a.inheritEnv[0]: "**": `*` may only end a name, as in a prefix pattern like `AWS_*`"#,
        ),
        (
            r#"["A=B"]"#,
            r#"mcpServers.a.inheritEnv[0]: "A=B" is not an environment variable name"#,
        ),
    ] {
        let text = format!(r#"{{"mcpServers": {{"a": {{"command": "x", "inheritEnv": {value}}}}}}}"#);
        assert_eq!(broken(&text), reason, "{value}");
    }
}

#[test]
fn env_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# secrets for the servers\n\
         export API_KEY=from-file\n\
         SHARED = file wins nothing   # explicit env wins\n\
         PASSWORD='pa$$word ${GITHUB_TOKEN}'\n\
         GREETING=\"hello\\n\\\"world\\\"\"\n\
         PLAIN=$HOME/x#not-a-comment\n\
         MULTI=\"line one\n\
         line two\"\n\
         \n\
         EMPTY=\n",
    )
    .unwrap();
    let env_file = dir.path().join(".env").display().to_string();
    let config = parse(&format!(
        r#"{{"mcpServers": {{"a": {{"command": "x", "envFile": "{env_file}",
            "env": {{"SHARED": "from-env", "OWN": "${{HOME}}"}}}}}}}}"#
    ))
    .unwrap();
    let env = &stdio(&config, "a").env;
    assert_eq!(env["API_KEY"], "from-file");
    assert_eq!(env["SHARED"], "from-env");
    assert_eq!(env["OWN"], "/home/u");
    // Values from the file are taken as written: no `${}` filling, no `$` substitution.
    assert_eq!(env["PASSWORD"], "pa$$word ${GITHUB_TOKEN}");
    assert_eq!(env["PLAIN"], "$HOME/x#not-a-comment");
    assert_eq!(env["GREETING"], "hello\n\"world\"");
    assert_eq!(env["MULTI"], "line one\nline two");
    assert_eq!(env["EMPTY"], "");
    assert_eq!(env.len(), 8);
    // The file's values are secrets too.
    assert!(!format!("{config:?}").contains("from-file"));

    // `${VAR}` in the path is filled.
    let dir_path = dir.path().display().to_string();
    let config = Config::parse(
        r#"{"mcpServers": {"a": {"command": "x", "envFile": "${ENV_DIR}/.env"}}}"#,
        "config.json",
        |name| (name == "ENV_DIR").then(|| dir_path.clone()),
    )
    .unwrap();
    assert_eq!(stdio(&config, "a").env["API_KEY"], "from-file");

    let missing = dir.path().join("missing.env");
    let reason = broken(&format!(
        r#"{{"mcpServers": {{"a": {{"command": "x", "envFile": "{}"}}}}}}"#,
        missing.display()
    ));
    assert!(
        reason.starts_with(&format!(
            "mcpServers.a.envFile: cannot read {}: ",
            missing.display()
        )),
        "{reason}"
    );

    let bad = dir.path().join("bad.env");
    std::fs::write(&bad, "A=1\nthis is not an assignment\n").unwrap();
    assert_eq!(
        broken(&format!(
            r#"{{"mcpServers": {{"a": {{"command": "x", "envFile": "{}"}}}}}}"#,
            bad.display()
        )),
        format!(
            "mcpServers.a.envFile: {}:2: expected NAME=value",
            bad.display()
        )
    );
    std::fs::write(&bad, "A=\"never closed\nB=2\n").unwrap();
    assert_eq!(
        broken(&format!(
            r#"{{"mcpServers": {{"a": {{"command": "x", "envFile": "{}"}}}}}}"#,
            bad.display()
        )),
        format!(
            "mcpServers.a.envFile: {}:1: A: the value's \" quote is never closed",
            bad.display()
        )
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "envFile": ["a"]}}}"#),
        "mcpServers.a.envFile: expected a file path (string), found an array"
    );
    assert_eq!(
        broken(r#"{"mcpServers": {"a": {"command": "x", "envFile": "${NOPE}/.env"}}}"#),
        "mcpServers.a.envFile: environment variable `NOPE` is not set"
    );
}

/// `cwd`, `envFile` and a `command` that is a path resolve against the config file's folder;
/// a bare command stays a PATH lookup and `args` are never touched.
#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/servers.env"), "FROM_FILE=yes\n").unwrap();
    let path = dir.path().join("conf/mcp.json");
    std::fs::write(
        &path,
        r#"{"mcpServers": {
            "script": {"command": "./server.sh", "args": ["./data", "sub/dir"], "cwd": "work",
                       "envFile": "servers.env"},
            "nested": {"command": "bin/srv", "cwd": "./"},
            "parent": {"command": "../tools/srv", "cwd": "../shared"},
            "bare": {"command": "npx", "args": ["./x"]},
            "absolute": {"command": "/usr/bin/srv", "cwd": "/tmp"}
        }}"#,
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    assert!(config.broken.is_empty(), "{config:?}");
    let conf = dir.path().join("conf");

    let script = stdio(&config, "script");
    assert_eq!(Path::new(&script.command), conf.join("server.sh"));
    assert_eq!(script.args, ["./data", "sub/dir"]);
    assert_eq!(script.cwd.as_deref(), Some(conf.join("work").as_path()));
    assert_eq!(script.env["FROM_FILE"], "yes");

    let nested = stdio(&config, "nested");
    assert_eq!(Path::new(&nested.command), conf.join("bin/srv"));
    assert_eq!(nested.cwd.as_deref(), Some(conf.as_path()));

    let parent = stdio(&config, "parent");
    assert_eq!(Path::new(&parent.command), conf.join("../tools/srv"));
    assert_eq!(
        parent.cwd.as_deref(),
        Some(conf.join("../shared").as_path())
    );

    let bare = stdio(&config, "bare");
    assert_eq!(bare.command, "npx");
    assert_eq!(bare.args, ["./x"]);

    let absolute = stdio(&config, "absolute");
    assert_eq!(absolute.command, "/usr/bin/srv");
    assert_eq!(absolute.cwd.as_deref(), Some(Path::new("/tmp")));

    // `parse` has no folder: relative paths stay as written; `parse_in` takes one.
    let text = r#"{"mcpServers": {"a": {"command": "./srv", "cwd": "w"}}}"#;
    let config = parse(text).unwrap();
    assert_eq!(stdio(&config, "a").command, "./srv");
    assert_eq!(stdio(&config, "a").cwd.as_deref(), Some(Path::new("w")));
    let config = Config::parse_in(text, "inline", Some(Path::new("/etc/codemode")), env).unwrap();
    assert_eq!(stdio(&config, "a").command, "/etc/codemode/srv");
    assert_eq!(
        stdio(&config, "a").cwd,
        Some(PathBuf::from("/etc/codemode/w"))
    );

    // A relative envFile that is not there names the resolved path.
    let reason = Config::parse_in(
        r#"{"mcpServers": {"a": {"command": "x", "envFile": ".env"}}}"#,
        "inline",
        Some(dir.path()),
        env,
    )
    .unwrap()
    .broken
    .remove(0)
    .reason;
    assert!(
        reason.starts_with(&format!(
            "mcpServers.a.envFile: cannot read {}: ",
            dir.path().join(".env").display()
        )),
        "{reason}"
    );
}

#[test]
fn operator_limits() {
    let (config, logs) = with_logs(|| {
        parse(
            r#"{"mcpServers": {},
                "codemode": {"limits": {"cpuTime": "10s", "wallTime": "500ms", "memory": "256MiB",
                                        "maxToolCalls": 100, "maxResultBytes": "64KiB"}}}"#,
        )
        .unwrap()
    });
    assert_eq!(
        config.limits,
        LimitSettings {
            cpu_time: Some(Duration::from_secs(10)),
            wall_time: Some(Duration::from_millis(500)),
            memory_bytes: Some(256 * 1024 * 1024),
            max_tool_calls: Some(100),
            max_result_bytes: Some(64 * 1024),
        }
    );
    // `codemode` is ours: no "unknown top-level field" warning.
    assert!(!logs.contains("codemode"), "{logs}");

    assert_eq!(
        parse(r#"{"mcpServers": {}}"#).unwrap().limits,
        LimitSettings::default()
    );
    assert_eq!(
        parse(r#"{"servers": {}, "codemode": {}}"#).unwrap().limits,
        LimitSettings::default()
    );
    let limits = parse(
        r#"{"mcpServers": {}, "codemode": {"limits": {"wallTime": "1m30s", "memory": 1048576,
            "maxResultBytes": "1GB"}}}"#,
    )
    .unwrap()
    .limits;
    assert_eq!(limits.wall_time, Some(Duration::from_secs(90)));
    assert_eq!(limits.memory_bytes, Some(1 << 20));
    assert_eq!(limits.max_result_bytes, Some(1_000_000_000));
    assert_eq!(limits.cpu_time, None);
    assert_eq!(limits.max_tool_calls, None);

    // Unknown fields are warned about, by their path.
    let (_, logs) = with_logs(|| {
        parse(r#"{"mcpServers": {}, "codemode": {"limit": {}, "limits": {"cpu": "1s"}}}"#).unwrap()
    });
    assert!(
        logs.contains("codemode.limit") && logs.contains("codemode.limits.cpu"),
        "{logs}"
    );
    let (_, logs) = with_logs(|| parse(r#"{"mcpServers": {}, "other": 1}"#).unwrap());
    assert!(logs.contains("ignoring unknown top-level field"), "{logs}");
}

#[test]
fn bad_limits_are_errors_of_the_file() {
    let limit = |field: &str, value: &str| {
        error(&format!(
            r#"{{"mcpServers": {{"a": {{"command": "x"}}}}, "codemode": {{"limits": {{"{field}": {value}}}}}}}"#
        ))
    };
    for (field, value, message) in [
        ("wallTime", r#""0s""#, "must be more than zero"),
        ("cpuTime", r#""0""#, "must be more than zero"),
        ("cpuTime", r#""48h""#, r#""48h" is too long: at most 24h"#),
        (
            "wallTime",
            r#""10""#,
            r#"invalid duration "10": a number needs a unit, such as 500ms, 30s, 2m or 1m30s"#,
        ),
        (
            "wallTime",
            "500",
            r#"expected a duration such as "500ms", "30s" or "1m30s", found a number"#,
        ),
        ("memory", r#""0MiB""#, "must be more than zero"),
        ("memory", "0", "must be more than zero"),
        (
            "memory",
            r#""5TiB""#,
            r#""5TiB" is too large: at most 1TiB"#,
        ),
        (
            "memory",
            "-1",
            r#"expected a size such as "256MiB" or "64KiB", or a whole number of bytes, found a number"#,
        ),
        (
            "maxResultBytes",
            r#""64 kilos""#,
            r#"invalid size "64 kilos": expected a number of bytes or a number and a unit, such as 256MiB, 64KiB, 1GB or 1048576 (bytes)"#,
        ),
        ("maxToolCalls", "0", "must be more than zero"),
        (
            "maxToolCalls",
            "10000000",
            "10000000 is too many: at most 1000000",
        ),
        (
            "maxToolCalls",
            r#""100""#,
            "expected a positive whole number, found a string",
        ),
        (
            "maxToolCalls",
            "1.5",
            "expected a positive whole number, found a number",
        ),
    ] {
        assert_eq!(
            limit(field, value),
            format!("config.json: codemode.limits.{field}: {message}"),
            "{field}: {value}"
        );
    }
    assert_eq!(
        error(r#"{"mcpServers": {}, "codemode": []}"#),
        "config.json: codemode: expected an object, found an array"
    );
    assert_eq!(
        error(r#"{"mcpServers": {}, "codemode": {"limits": "strict"}}"#),
        "config.json: codemode.limits: expected an object, found a string"
    );
}

/// The parsers the CLI's flags share with the config.
#[test]
fn duration_and_size_parsers() {
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_size("64KiB"), Ok(65536));
    assert_eq!(parse_size("1048576"), Ok(1048576));
    assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
    let flag = |message: String| format!("codemode: --wall-time: {message}");
    assert_eq!(
        flag(parse_duration("soon").unwrap_err()),
        r#"codemode: --wall-time: invalid duration "soon": expected a number and a unit, such as 500ms, 30s, 2m or 1m30s"#
    );
    assert_eq!(
        flag(parse_duration("0ms").unwrap_err()),
        "codemode: --wall-time: must be more than zero"
    );
    assert!(parse_size("0").is_err() && parse_size("").is_err() && parse_size("2TiB").is_err());
}
