//! What an operator sets and sees: limits from flags and the config, progress for long
//! executions read by the official TypeScript SDK client, and the polish around serving
//! (JSONC configs, relative paths, `CODEMODE_CONFIG`, `--http localhost:…`, `/healthz`).

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{codemode, dep, node, path_str, run_node_script, HttpGateway, StdioSession};
use serde_json::{json, Value};

fn everything_entry() -> Value {
    let entry = dep("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    json!({ "command": path_str(&node()), "args": [path_str(&entry), "stdio"] })
}

/// `codemode run ARGS -` with `snippet` on stdin: (exit ok, stdout, stderr, elapsed).
fn run(args: &[&str], snippet: &str, env: &[(&str, &str)]) -> (bool, String, String, Duration) {
    let mut command = Command::new(codemode());
    command
        .arg("run")
        .args(args)
        .arg("-")
        .env_remove("CODEMODE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("codemode starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(snippet.as_bytes()).expect("writes");
    }
    let output = child.wait_with_output().expect("codemode runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn run_wall_time_ends_a_promise_that_never_settles() {
    let snippet = "await new Promise((resolve) => setTimeout(resolve, 600_000)); return 1;";
    let (ok, stdout, stderr, elapsed) = run(&["--wall-time", "2s"], snippet, &[]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("timeout error"), "{stderr}");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );
}

#[test]
fn limit_flags_win_over_the_config_which_wins_over_the_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        json!({
            "codemode": { "limits": { "maxToolCalls": 2, "wallTime": "20s" } },
            "mcpServers": { "everything": everything_entry() }
        })
        .to_string(),
    )
    .expect("writes");
    let config = path_str(&config);
    let three_calls =
        "for (let i = 0; i < 3; i++) await tools.everything.echo({ message: 'x' }); return 'done';";
    let (ok, _, stderr, _) = run(&["--config", &config], three_calls, &[]);
    assert!(!ok, "the config's maxToolCalls of 2 applies");
    assert!(stderr.contains("limit error"), "{stderr}");
    let (ok, stdout, stderr, _) = run(
        &["--config", &config, "--max-tool-calls", "3"],
        three_calls,
        &[],
    );
    assert!(ok, "the flag wins: {stdout}\n{stderr}");

    let (ok, _, stderr, _) = run(&["--wall-time", "soon"], "return 1", &[]);
    assert!(!ok);
    assert!(stderr.contains("--wall-time"), "{stderr}");

    // The execute description states the limits in force.
    let mut session = StdioSession::start(
        &[
            "--in-process",
            "--config",
            &config,
            "--cpu-time",
            "1500ms",
            "--memory",
            "256MiB",
        ],
        &[],
    );
    session.initialize();
    let description = session.execute_description();
    assert!(
        description.contains("1.5 s CPU, 20 s wall, 256 MiB heap,")
            && description.contains(" 2 tool calls."),
        "{description}"
    );
}

#[test]
fn the_default_wall_limit_is_below_common_client_timeouts() {
    let mut session = StdioSession::start(&["--in-process"], &[]);
    session.initialize();
    let description = session.execute_description();
    assert!(description.contains("50 s wall"), "{description}");
}

#[test]
fn a_long_execute_reports_progress_to_the_typescript_sdk_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        json!({ "mcpServers": { "everything": everything_entry() } }).to_string(),
    )
    .expect("writes");
    // Six seconds of honest work against a client whose timeout is 2.5 s unless progress
    // resets it: upstream progress is forwarded, and each finished call is reported.
    let snippet = r#"
        const first = await tools.everything.trigger_long_running_operation({ duration: 4, steps: 4 });
        for (let i = 0; i < 3; i++) {
          await tools.everything.echo({ message: `step ${i}` });
          await new Promise((resolve) => setTimeout(resolve, 700));
        }
        return first;
    "#;
    let report = run_node_script(
        "ts_progress.mjs",
        &json!({
            "server": { "command": codemode(), "args": ["serve", "--config", path_str(&config)] },
            "snippet": snippet,
            "timeoutMs": 2500,
        }),
    );
    let context = || serde_json::to_string_pretty(&report).unwrap_or_default();
    assert!(
        report.get("error").is_none(),
        "the client gave up: {}",
        context()
    );
    assert_eq!(report["result"]["isError"], false, "{}", context());
    assert!(
        report["result"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Long running operation completed"),
        "{}",
        context()
    );
    let progress = report["progress"].as_array().cloned().unwrap_or_default();
    let messages: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("tools.everything.trigger_long_running_operation: ")),
        "upstream progress was not forwarded: {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("calls finished; last: tools.everything.echo")),
        "finished calls were not reported: {messages:?}"
    );
    let values: Vec<f64> = progress
        .iter()
        .filter_map(|p| p["progress"].as_f64())
        .collect();
    assert!(
        values.windows(2).all(|w| w[1] > w[0]),
        "progress must rise: {values:?}"
    );
    assert_eq!(values.last().map(|v| v.floor()), Some(4.0), "{values:?}");
    // A few per second at most.
    let times: Vec<f64> = progress.iter().filter_map(|p| p["atMs"].as_f64()).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 200.0), "{times:?}");
}

/// A config as VS Code writes it (comments, trailing commas), found through
/// `CODEMODE_CONFIG`, whose relative `command` and `cwd` resolve against its folder.
#[test]
fn jsonc_relative_paths_and_codemode_config_work_together() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    std::fs::create_dir(dir.path().join("work")).expect("mkdir");
    let entry = dep("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let script = bin.join("everything.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\npwd > started-in.txt\nexec '{}' '{}' stdio\n",
            path_str(&node()),
            path_str(&entry)
        ),
    )
    .expect("writes");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        r#"// VS Code's mcp.json
{
  "servers": {
    /* a local script */
    "local": {
      "type": "stdio",
      "command": "./bin/everything.sh",
      "cwd": "work",
    },
  },
}
"#,
    )
    .expect("writes");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(codemode());
    command
        .args(["run", "-"])
        .current_dir(elsewhere.path())
        .env("CODEMODE_CONFIG", &config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("codemode starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(b"return (await tools.local.echo({ message: 'jsonc' }));")
            .expect("writes");
    }
    let output = child.wait_with_output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("jsonc"), "{stdout}");
    let started_in =
        std::fs::read_to_string(dir.path().join("work/started-in.txt")).expect("cwd was used");
    assert_eq!(
        Path::new(started_in.trim()).canonicalize().ok(),
        dir.path().join("work").canonicalize().ok()
    );
}

#[test]
fn http_listens_on_localhost_and_answers_health() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        json!({ "mcpServers": {
            "everything": everything_entry(),
            "crasher": { "command": "sh", "args": ["-c", "echo 'secret-ish detail' >&2; exit 1"] },
        }})
        .to_string(),
    )
    .expect("writes");
    let gateway = HttpGateway::start_at(
        "localhost:0",
        &["--in-process", "--config", &path_str(&config)],
        &[],
    );
    let health_url = gateway.url.replace("/mcp", "/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut body = Value::Null;
    while Instant::now() < deadline {
        body = http_get_json(&health_url);
        if body["status"] == "ready" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(body["status"], "ready", "{body}");
    let namespaces = body["namespaces"].as_array().cloned().unwrap_or_default();
    let state = |name: &str| {
        namespaces
            .iter()
            .find(|ns| ns["name"] == name)
            .map(|ns| ns["state"].clone())
    };
    assert_eq!(state("everything"), Some(json!("ready")), "{body}");
    assert_eq!(
        state("crasher"),
        Some(json!("unavailable (retrying)")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("secret-ish"),
        "health leaks reasons: {body}"
    );
}

/// A GET over a plain TCP socket (the test has no HTTP client crate).
fn http_get_json(url: &str) -> Value {
    use std::io::Write;
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(authority).expect("connects");
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}
