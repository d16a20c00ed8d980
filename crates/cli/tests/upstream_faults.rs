//! Between the gateway and its upstreams, with real servers: secrets stay in the gateway,
//! one bad entry costs only itself, the agent is told what is missing and why, and a server
//! that comes up late joins.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{codemode, dep, node, path_str, StdioSession};
use serde_json::{json, Value};

fn everything_entry() -> Value {
    let entry = dep("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    json!({ "command": path_str(&node()), "args": [path_str(&entry), "stdio"] })
}

fn write(dir: &Path, name: &str, config: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(config).expect("JSON")).expect("writes");
    path_str(&path)
}

/// `codemode run` of `snippet` with `env` added to (and the gateway's own variables
/// removed from) this process's environment: (exit ok, stdout, stderr).
fn run(args: &[&str], snippet: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(codemode());
    command
        .arg("run")
        .args(args)
        .arg("-")
        .env_remove("CODEMODE_TOKEN")
        .env_remove("CODEMODE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("codemode starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(snippet.as_bytes())
            .expect("writes the snippet");
    }
    let output = child.wait_with_output().expect("codemode runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn no_upstream_sees_the_gateways_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opted_in = everything_entry();
    opted_in["inheritEnv"] = json!(["AWS_PROFILE"]);
    opted_in["env"] = json!({ "FROM_ENTRY": "yes" });
    let config = write(
        dir.path(),
        "mcp.json",
        &json!({ "mcpServers": { "plain": everything_entry(), "opted": opted_in } }),
    );
    let snippet = r#"
        const plain = await tools.plain.get_env();
        const opted = await tools.opted.get_env();
        return { plain, opted };
    "#;
    let secrets = [
        ("CODEMODE_TOKEN", "s3cret-gateway-token"),
        ("GITHUB_TOKEN", "ghp_secret_value"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
        ("AWS_PROFILE", "dev-profile"),
    ];
    let (ok, stdout, stderr) = run(&["--config", &config], snippet, &secrets);
    assert!(ok, "{stdout}\n{stderr}");
    for leaked in [
        "s3cret-gateway-token",
        "ghp_secret_value",
        "aws-secret-value",
    ] {
        assert!(
            !stdout.contains(leaked),
            "{leaked} reached an upstream: {stdout}"
        );
    }
    let value: Value = serde_json::from_str(&stdout).expect("the value is JSON");
    let plain = value["plain"].as_object().expect("an env object");
    // Only the official SDKs' default variables (those this process has).
    for name in plain.keys() {
        assert!(
            ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"].contains(&name.as_str()),
            "unexpected variable {name} in {plain:?}"
        );
    }
    assert!(plain.contains_key("PATH"), "{plain:?}");
    assert!(!plain.contains_key("AWS_PROFILE"), "{plain:?}");
    let opted = &value["opted"];
    assert_eq!(opted["AWS_PROFILE"], "dev-profile", "{opted}");
    assert_eq!(opted["FROM_ENTRY"], "yes", "{opted}");
    assert!(opted.get("CODEMODE_TOKEN").is_none(), "{opted}");
}

/// An entry per way a server can fail to come up, beside one that works.
fn faulty_config(dir: &Path) -> String {
    let refused = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = refused.local_addr().expect("addr").port();
    drop(refused);
    write(
        dir,
        "mcp.json",
        &json!({ "mcpServers": {
            "everything": everything_entry(),
            "crasher": { "command": "sh", "args": ["-c", "echo 'fatal: API key missing' >&2; exit 3"] },
            "hanging": { "command": "sleep", "args": ["600"], "startupTimeoutMs": 3000 },
            "missing": { "command": "/nonexistent/mcp-server" },
            "unset": { "command": "sleep", "args": ["600"],
                       "env": { "TOKEN": "${CODEMODE_TEST_SURELY_UNSET_VAR}" } },
            "refused": { "url": format!("http://127.0.0.1:{port}/mcp") },
        }}),
    )
}

#[test]
fn one_bad_entry_costs_only_itself_and_the_agent_is_told_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = faulty_config(dir.path());
    let mut session = StdioSession::start(&["--in-process", "--config", &config], &[]);
    let handshake = session.initialize();
    assert!(
        handshake < Duration::from_secs(1),
        "initialize took {handshake:?} with a hanging upstream in the config"
    );

    // A call to a server that is still starting waits for it.
    let (failed, text) = session.execute(
        "const env = await tools.everything.get_env(); return typeof env.PATH;",
        Duration::from_secs(40),
    );
    assert!(!failed, "{text}");
    assert_eq!(text, "\"string\"");
    assert!(
        session.wait_for_notification("notifications/tools/list_changed", Duration::from_secs(10)),
        "tools/list_changed was not sent when servers came up"
    );

    // A call to the hanging one waits up to its startup timeout, then says why.
    let started = Instant::now();
    let (failed, text) = session.execute(
        "return await tools.hanging.anything();",
        Duration::from_secs(30),
    );
    assert!(failed, "{text}");
    assert!(
        text.contains("tools.hanging is configured but unavailable"),
        "{text}"
    );
    assert!(text.contains("startup timeout"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    let cases = [
        ("crasher", "fatal: API key missing"),
        ("missing", "command not found"),
        ("unset", "CODEMODE_TEST_SURELY_UNSET_VAR"),
        ("refused", "cannot connect"),
    ];
    for (name, reason) in cases {
        let snippet = format!(
            "try {{ await tools.{name}.some_tool({{}}); return 'called'; }} \
             catch (e) {{ return {{ message: e.message, kind: e.kind }}; }}"
        );
        let (failed, text) = session.execute(&snippet, Duration::from_secs(30));
        assert!(!failed, "{text}");
        let caught: Value = serde_json::from_str(&text).expect("JSON");
        let message = caught["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("tools.{name} is configured but unavailable: ")),
            "{name}: {message}"
        );
        assert!(message.contains(reason), "{name}: {message}");
        assert!(!message.contains("does not exist"), "{message}");
        assert_eq!(caught["kind"], "unavailable", "{caught}");
    }

    let listing = session.search("");
    assert!(listing.contains("tools.everything"), "{listing}");
    for (name, reason) in cases {
        let line = listing
            .lines()
            .find(|line| line.starts_with(&format!("// tools.{name}: unavailable: ")))
            .unwrap_or_else(|| panic!("search(\"\") does not list {name}:\n{listing}"));
        assert!(line.contains(reason), "{line}");
    }
    let description = session.execute_description();
    assert!(description.contains("Not available now"), "{description}");
    for (name, _) in cases {
        assert!(
            description.contains(&format!("- {name}: unavailable: ")),
            "{description}"
        );
    }

    // The start-up line says which are ready and which are not, once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !session.stderr().contains("upstreams: ") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stderr = session.stderr();
    assert!(
        stderr.contains("codemode: serving MCP on stdio"),
        "{stderr}"
    );
    assert!(stderr.contains("upstreams: 1 of 6 ready"), "{stderr}");
    assert_eq!(
        stderr.matches("API key missing").count(),
        2,
        "said once in the log and once in the summary:\n{stderr}"
    );
    assert!(
        !stderr.contains("Some("),
        "a Debug dump in the log:\n{stderr}"
    );
}

#[test]
fn an_http_server_that_starts_late_joins() {
    let free = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(
        dir.path(),
        "mcp.json",
        &json!({ "mcpServers": { "late": { "url": format!("http://127.0.0.1:{port}/mcp") } } }),
    );
    let mut session = StdioSession::start(&["--in-process", "--config", &config], &[]);
    session.initialize();
    let (failed, text) = session.execute(
        "return await tools.late.echo({ message: 'hi' });",
        Duration::from_secs(20),
    );
    assert!(failed, "{text}");
    assert!(
        text.contains("tools.late is configured but unavailable"),
        "{text}"
    );
    assert!(session.search("").contains("(retrying)"));

    let entry = dep("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let mut server = Command::new(node())
        .args([path_str(&entry), "streamableHttp".to_string()])
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server-everything starts");
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut last = String::new();
    while Instant::now() < deadline {
        let (failed, text) = session.execute(
            "return await tools.late.echo({ message: 'hi' });",
            Duration::from_secs(20),
        );
        if !failed {
            last = text;
            break;
        }
        last = text;
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(last.contains("hi"), "the late server never joined: {last}");
}

#[test]
fn doctor_starts_each_upstream_and_reports_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write(
        dir.path(),
        "mcp.json",
        &json!({ "mcpServers": {
            "everything": everything_entry(),
            "crasher": { "command": "sh", "args": ["-c", "echo 'fatal: no key' >&2; exit 3"] },
        }}),
    );
    let output = Command::new(codemode())
        .args(["doctor", "--config", &config])
        .output()
        .expect("doctor runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "an unavailable upstream is a failed check: {stdout}"
    );
    let everything = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("everything"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        everything.contains("ready, 13 tools, started in"),
        "{everything}"
    );
    let crasher = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("crasher"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        crasher.contains("UNAVAILABLE") && crasher.contains("fatal: no key"),
        "{crasher}"
    );
}
