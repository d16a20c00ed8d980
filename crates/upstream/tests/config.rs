//! The config file: the formats users have, `${VAR}` secrets, our own fields, and errors that
//! point at the file, the entry and the field.

use std::collections::BTreeSet;
use std::time::Duration;

use codemode_upstream::{
    Config, ConfigError, Protocol, ToolFilter, Transport, DEFAULT_STARTUP_TIMEOUT,
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

fn error(text: &str) -> String {
    parse(text)
        .expect_err("config should be rejected")
        .to_string()
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
        error(r#"{"mcpServers": {"a": {"command": "x", "protocol": "2025-06-18"}}}"#),
        r#"config.json: mcpServers.a.protocol: unknown protocol "2025-06-18": expected "auto", "2026-07-28" or "2025-11-25""#
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"command": "x", "protocol": 2026}}}"#),
        "config.json: mcpServers.a.protocol: expected a string, found a number"
    );
    assert!(error(
        r#"{"mcpServers": {"a": {"type": "sse", "url": "https://h/sse", "protocol": "2026-07-28"}}}"#
    )
    .starts_with("config.json: mcpServers.a.protocol: the legacy HTTP+SSE transport"));
}

#[test]
fn wrong_field_types_name_file_entry_and_field() {
    assert_eq!(
        error(r#"{"mcpServers": {"memory": {"command": "npx", "args": 3}}}"#),
        "config.json: mcpServers.memory.args: expected an array of strings, found a number"
    );
    assert_eq!(
        error(r#"{"mcpServers": {"memory": {"command": "npx", "args": ["-y", false]}}}"#),
        "config.json: mcpServers.memory.args[1]: expected a string, found a boolean"
    );
    assert_eq!(
        error(r#"{"servers": {"my server": {"command": "x", "env": {"A": 1}}}}"#),
        r#"config.json: servers["my server"].env.A: expected a string, found a number"#
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"command": "x", "callTimeoutMs": -5}}}"#),
        "config.json: mcpServers.a.callTimeoutMs: expected a positive whole number of milliseconds, found a number"
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"command": "x", "disabled": "yes"}}}"#),
        "config.json: mcpServers.a.disabled: expected true or false, found a string"
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": "npx server"}}"#),
        "config.json: mcpServers.a: expected an object, found a string"
    );
}

#[test]
fn transport_problems() {
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"args": []}}}"#),
        "config.json: mcpServers.a: needs `command` (a stdio server) or `url` (an HTTP server)"
    );
    assert!(
        error(r#"{"mcpServers": {"a": {"command": "x", "url": "http://h/"}}}"#)
            .contains("has both `command` and `url`")
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"type": "ws", "url": "ws://h/"}}}"#),
        r#"config.json: mcpServers.a.type: unknown transport "ws": expected "stdio", "http" or "sse""#
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"url": "ftp://h/x"}}}"#),
        "config.json: mcpServers.a.url: expected an http:// or https:// URL, found a ftp: URL"
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"type": "http", "command": "x"}}}"#),
        "config.json: mcpServers.a: an HTTP server needs `url`"
    );
}

#[test]
fn tool_filter_shape() {
    assert_eq!(
        error(
            r#"{"mcpServers": {"a": {"command": "x", "tools": {"allow": ["r"], "hide": ["w"]}}}}"#
        ),
        "config.json: mcpServers.a.tools: `allow` and `hide` cannot be combined"
    );
    assert!(
        error(r#"{"mcpServers": {"a": {"command": "x", "tools": {"deny": []}}}}"#)
            .starts_with("config.json: mcpServers.a.tools.deny: unknown key")
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"command": "x", "tools": {"allow": [1]}}}}"#),
        "config.json: mcpServers.a.tools.allow[0]: expected a tool name (string), found a number"
    );
}

#[test]
fn unset_variables_are_named_and_never_passed_on() {
    assert_eq!(
        error(r#"{"mcpServers": {"gh": {"url": "https://h/mcp", "headers": {"Authorization": "Bearer ${GH_PAT}"}}}}"#),
        "config.json: mcpServers.gh.headers.Authorization: environment variable `GH_PAT` is not set"
    );
    assert_eq!(
        error(r#"{"mcpServers": {"a": {"command": "x", "env": {"K": "${env:API_KEY}"}}}}"#),
        "config.json: mcpServers.a.env.K: environment variable `API_KEY` is not set"
    );
    assert!(
        error(r#"{"servers": {"a": {"command": "x", "env": {"K": "${input:key}"}}}}"#)
            .contains("editor variable")
    );
}

#[test]
fn json_syntax_errors_give_line_and_column() {
    let err =
        parse("{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}").unwrap_err();
    match &err {
        // (3, 26) is the `}` after the trailing comma.
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
    let err = Config::load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: mcpServers.a.command: expected a string, found a number",
            path.display()
        )
    );
}
