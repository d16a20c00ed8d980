//! `codemode audit` on a prepared log: rotated files read oldest first, a torn last line
//! noted and skipped, `--json`, `--tool`, `--since`, `--execution`, and `--follow` seeing
//! records appended, a line finished late and a rotation.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

fn time_ago(ago: Duration) -> String {
    codemode_audit::Timestamp::from(SystemTime::now() - ago).to_string()
}

fn start(execution: &str, ago: Duration) -> Value {
    json!({
        "type": "execute.start", "time": time_ago(ago), "execution": execution,
        "client": "claude-code 1.2", "code": "return 1", "codeSha256": "ab".repeat(32),
    })
}

fn end(execution: &str, ago: Duration, calls: u64) -> Value {
    json!({
        "type": "execute", "time": time_ago(ago), "execution": execution,
        "codeSha256": "ab".repeat(32), "outcome": "ok", "durationMs": 900, "calls": calls,
    })
}

fn call(execution: &str, tool: &str, source: Option<&str>, ago: Duration) -> Value {
    let mut record = json!({
        "type": "call", "time": time_ago(ago), "execution": execution, "tool": tool,
        "argsSha256": "cd".repeat(32), "argsBytes": 312, "outcome": "ok", "durationMs": 152,
        "resultBytes": 2048, "decision": {"action": "allow", "reason": "rule 2 (github.*)"},
    });
    if let Some(source) = source {
        record["sourceTool"] = json!(source);
    }
    record
}

fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// `audit.jsonl.2` (oldest, e1), `audit.jsonl.1` (e2), `audit.jsonl` (e3, then a line cut
/// mid-record as a `kill -9` leaves it).
fn prepared_log(dir: &Path) -> PathBuf {
    let path = dir.join("audit.jsonl");
    std::fs::write(
        dir.join("audit.jsonl.2"),
        lines(&[
            start("e1", 3 * HOUR),
            call("e1", "github.get_repo", None, 3 * HOUR),
            end("e1", 3 * HOUR, 1),
        ]),
    )
    .expect("writes");
    std::fs::write(
        dir.join("audit.jsonl.1"),
        lines(&[
            start("e2", 2 * HOUR),
            call("e2", "github.create_issue", Some("create-issue"), 2 * HOUR),
            call("e2", "linear.delete_issue", None, 2 * HOUR),
            end("e2", 2 * HOUR, 2),
        ]),
    )
    .expect("writes");
    let cut = call("e3", "github.list_issues", None, MINUTE).to_string();
    let current = lines(&[
        start("e3", 30 * MINUTE),
        call("e3", "github.delete_branch", None, 20 * MINUTE),
        end("e3", 10 * MINUTE, 1),
    ]) + &cut[..cut.len() / 2];
    std::fs::write(&path, current).expect("writes");
    path
}

fn audit(args: &[&str]) -> Output {
    Command::new(common::codemode())
        .arg("audit")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("codemode audit runs")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn executions_in(output: &Output) -> Vec<String> {
    stdout_lines(output)
        .iter()
        .map(|line| {
            let record: Value = serde_json::from_str(line).expect("a JSON line");
            format!(
                "{} {}",
                record["type"].as_str().unwrap_or("?"),
                record["execution"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn prints_the_history_oldest_first_and_notes_the_torn_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = prepared_log(dir.path());
    let output = audit(&[&common::path_str(&path)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "audit: line 4 of {} is incomplete or not JSON; skipped",
            path.display()
        )
    );
    let printed = stdout_lines(&output);
    assert_eq!(printed.len(), 10, "{printed:#?}");
    let kinds: Vec<&str> = printed
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "execute.start",
            "call",
            "execute",
            "execute.start",
            "call",
            "call",
            "execute",
            "execute.start",
            "call",
            "execute"
        ]
    );
    // In time order, as the files are read oldest first.
    let times: Vec<&str> = printed
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    // A call line: tool, outcome, decision, milliseconds, sizes.
    let call = &printed[4];
    for part in [
        "github.create_issue",
        " ok ",
        "allow (rule 2 (github.*))",
        "152 ms",
        "args 312 B",
        "result 2.0 KiB",
        "exec e2",
    ] {
        assert!(call.contains(part), "{part:?} in {call}");
    }
    let end = &printed[6];
    assert!(
        end.contains("e2")
            && end.contains("ok")
            && end.contains("900 ms")
            && end.contains("2 calls"),
        "{end}"
    );
}

#[test]
fn control_characters_from_servers_are_shown_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let hostile = call("e1", "evil.tool", Some("\u{1b}[2Jgotcha"), MINUTE);
    std::fs::write(&path, lines(&[hostile])).expect("writes");
    let output = audit(&[&common::path_str(&path)]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("source \\u{1b}[2Jgotcha"), "{text:?}");
}

#[test]
fn json_prints_the_lines_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = prepared_log(dir.path());
    let output = audit(&[&common::path_str(&path), "--json"]);
    assert!(output.status.success());
    let mut written: Vec<String> = Vec::new();
    for name in ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"] {
        let text = std::fs::read_to_string(dir.path().join(name)).expect("reads");
        written.extend(
            text.split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .map(|l| l.trim_end().to_string()),
        );
    }
    assert_eq!(stdout_lines(&output), written);
}

#[test]
fn tool_keeps_matching_calls_by_either_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = prepared_log(dir.path());
    let file = common::path_str(&path);
    let tools = |glob: &str| -> Vec<String> {
        let output = audit(&[&file, "--json", "--tool", glob]);
        assert!(output.status.success(), "{glob}");
        stdout_lines(&output)
            .iter()
            .map(|line| {
                let record: Value = serde_json::from_str(line).expect("JSON");
                assert_eq!(record["type"], "call", "only calls with --tool");
                record["tool"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    };
    assert_eq!(
        tools("*.delete_*"),
        ["linear.delete_issue", "github.delete_branch"]
    );
    assert_eq!(
        tools("github.*"),
        [
            "github.get_repo",
            "github.create_issue",
            "github.delete_branch"
        ]
    );
    // The server's own name, under the tool's namespace.
    assert_eq!(tools("github.create-*"), ["github.create_issue"]);
    assert!(tools("slack.*").is_empty());

    let output = audit(&[&file, "--tool", "github.[oops"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid tool pattern"));
}

#[test]
fn since_takes_a_duration_or_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = prepared_log(dir.path());
    let file = common::path_str(&path);
    let output = audit(&[&file, "--json", "--since", "1h"]);
    assert!(output.status.success());
    assert_eq!(
        executions_in(&output),
        ["execute.start e3", "call e3", "execute e3"]
    );
    let output = audit(&[&file, "--json", "--since", "15m"]);
    assert_eq!(executions_in(&output), ["execute e3"]);

    let after_e1 = time_ago(150 * MINUTE);
    let output = audit(&[&file, "--json", "--since", &after_e1, "--tool", "github.*"]);
    assert_eq!(executions_in(&output), ["call e2", "call e3"]);

    let output = audit(&[&file, "--since", "yesterday-ish"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid time"));
}

#[test]
fn execution_keeps_one_execution_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = prepared_log(dir.path());
    let output = audit(&[&common::path_str(&path), "--json", "--execution", "e2"]);
    assert_eq!(
        executions_in(&output),
        ["execute.start e2", "call e2", "call e2", "execute e2"]
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("none.jsonl");
    let output = audit(&[&common::path_str(&path)]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{} does not exist", path.display())),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// `codemode audit --follow`, its stdout lines arriving on a channel; killed on drop.
struct Following {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Following {
    fn start(path: &Path) -> Following {
        let mut child = Command::new(common::codemode())
            .args(["audit", "--json", "--follow"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("codemode audit --follow starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Following { child, lines }
    }

    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line within 10 s");
        serde_json::from_str(&line).expect("a JSON line")
    }

    fn nothing_for(&self, wait: Duration) {
        if let Ok(line) = self.lines.recv_timeout(wait) {
            panic!("unexpected line: {line}");
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("opens");
    file.write_all(text.as_bytes()).expect("writes");
}

#[test]
fn follow_prints_new_records_waits_for_a_line_and_survives_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, lines(&[start("f1", MINUTE)])).expect("writes");
    let following = Following::start(&path);
    assert_eq!(following.next()["execution"], "f1");

    append(
        &path,
        &lines(&[call("f1", "github.get_repo", None, Duration::ZERO)]),
    );
    assert_eq!(following.next()["tool"], "github.get_repo");

    // A record written in two halves is printed once whole, never in part.
    let record = lines(&[end("f1", Duration::ZERO, 1)]);
    let (head, tail) = record.split_at(record.len() / 2);
    append(&path, head);
    following.nothing_for(Duration::from_millis(700));
    append(&path, tail);
    assert_eq!(following.next()["type"], "execute");

    // Rotation: FILE becomes FILE.1 and a fresh FILE starts.
    std::fs::rename(&path, dir.path().join("audit.jsonl.1")).expect("rotates");
    std::fs::write(&path, lines(&[start("f2", Duration::ZERO)])).expect("writes");
    assert_eq!(following.next()["execution"], "f2");
    append(
        &path,
        &lines(&[call("f2", "linear.delete_issue", None, Duration::ZERO)]),
    );
    assert_eq!(following.next()["tool"], "linear.delete_issue");
}
