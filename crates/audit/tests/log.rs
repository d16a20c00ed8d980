//! The writer and the reader through their public interfaces: what is written reads back,
//! rotation keeps what it should, concurrent writers never interleave, the code stays out
//! when asked, and a torn line costs only itself.

use std::io::{BufReader, Write};
use std::path::Path;
use std::time::Duration;

use codemode_audit::{
    digest, history, records, AuditError, AuditLog, AuditOptions, CallOutcome, CallRecord,
    CodeMode, Decision, ExecuteOutcome, ExecuteStart, Line, Record, Records, Skip,
};

fn call(execution: &str, tool: &str) -> CallRecord {
    CallRecord::new(
        execution,
        tool,
        br#"{"owner":"a","repo":"b"}"#,
        Decision::allow("rule 2 (github.*)"),
        CallOutcome::Ok,
        Duration::from_millis(42),
    )
}

/// Every line of the file at `path`, parsed; panics on a line that is not a record.
fn read_back(path: &Path) -> Vec<Record> {
    Records::open(path)
        .expect("opens")
        .map(|line| match line.expect("reads") {
            Line::Record { record, .. } => *record,
            skipped => panic!("{}: unexpected {skipped:?}", path.display()),
        })
        .collect()
}

#[test]
fn a_log_is_shared_by_cloning_across_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<AuditLog>();
}

#[test]
fn records_read_back_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    let mut start = ExecuteStart::new("e1", "return 1");
    start.session = Some("s1".into());
    start.client = Some("claude-code 1.2".into());
    let mut denied = call("e1", "github.delete_repo");
    denied.outcome = CallOutcome::Denied;
    denied.decision = Decision::deny("rule 1 (*.delete_*)");
    denied.source_tool = Some("delete-repo".into());
    let mut replayed = call("e1", "github.get_repo");
    replayed.replayed = true;
    replayed.approved_by = Some("session grant".into());
    let end = start.finish(
        ExecuteOutcome::Error,
        Some("tool".into()),
        Duration::from_millis(1500),
        3,
    );
    let written: Vec<Record> = vec![
        start.clone().into(),
        call("e1", "github.get_repo").into(),
        denied.into(),
        replayed.into(),
        end.into(),
    ];
    for record in &written {
        log.write(record);
    }
    assert_eq!(read_back(&path), written);

    let text = std::fs::read_to_string(&path).expect("reads");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["type"], "execute.start");
    assert_eq!(first["code"], "return 1");
    assert_eq!(first["codeSha256"], digest(b"return 1"));
    assert_eq!(first["client"], "claude-code 1.2");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["type"], "execute");
    assert_eq!(last["outcome"], "error");
    assert_eq!(last["errorKind"], "tool");
    assert_eq!(last["durationMs"], 1500);
    assert_eq!(last["calls"], 3);
    let time = last["time"].as_str().expect("a time");
    assert!(
        time.len() == "2026-12-02T16:30:01.123Z".len() && time.ends_with('Z'),
        "{time}"
    );
}

#[test]
fn a_log_opened_again_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    AuditLog::open(&path, AuditOptions::default())
        .expect("opens")
        .write(&call("e1", "a.b").into());
    AuditLog::open(&path, AuditOptions::default())
        .expect("opens again")
        .write(&call("e2", "a.b").into());
    let executions: Vec<String> = read_back(&path)
        .iter()
        .map(|r| r.execution().to_string())
        .collect();
    assert_eq!(executions, ["e1", "e2"]);
}

#[test]
fn hash_mode_drops_the_code_and_keeps_its_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let options = AuditOptions {
        code: CodeMode::Hash,
        ..AuditOptions::default()
    };
    let log = AuditLog::open(&path, options).expect("opens");
    let code = "const secret = 'hunter2'; return secret.length";
    let start = ExecuteStart::new("e1", code);
    log.write(&start.clone().into());
    log.write(
        &start
            .finish(ExecuteOutcome::Ok, None, Duration::ZERO, 0)
            .into(),
    );
    let text = std::fs::read_to_string(&path).expect("reads");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("\"code\""), "{text}");
    for record in read_back(&path) {
        let (code_field, sha) = match &record {
            Record::ExecuteStart(start) => (&start.code, &start.code_sha256),
            Record::Execute(end) => (&end.code, &end.code_sha256),
            Record::Call(_) => panic!("no calls were written"),
        };
        assert_eq!(code_field, &None);
        assert_eq!(sha, &digest(code.as_bytes()));
    }
}

#[test]
fn rotation_keeps_keep_files_and_the_newest_records_in_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let line_len = serde_json::to_string(&Record::from(call("e000", "a.b")))
        .expect("serialises")
        .len() as u64
        + 1;
    // Three records to a file.
    let options = AuditOptions {
        max_bytes: line_len * 3,
        keep: 2,
        code: CodeMode::Full,
    };
    let log = AuditLog::open(&path, options).expect("opens");
    for n in 0..20 {
        log.write(&call(&format!("e{n:03}"), "a.b").into());
    }
    let files = history(&path).expect("history");
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"]);
    assert!(!dir.path().join("audit.jsonl.3").exists());
    // 20 records, 3 a file: FILE holds the last 2, FILE.1 and FILE.2 the 6 before them.
    let executions: Vec<String> = files
        .iter()
        .flat_map(|f| read_back(f))
        .map(|r| r.execution().to_string())
        .collect();
    let expected: Vec<String> = (12..20).map(|n| format!("e{n:03}")).collect();
    assert_eq!(executions, expected);
    for file in &files {
        assert!(std::fs::metadata(file).expect("exists").len() <= line_len * 3);
    }
}

#[test]
fn keep_zero_starts_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let options = AuditOptions {
        max_bytes: 1,
        keep: 0,
        code: CodeMode::Full,
    };
    let log = AuditLog::open(&path, options).expect("opens");
    for n in 0..3 {
        log.write(&call(&format!("e{n}"), "a.b").into());
    }
    assert_eq!(
        history(&path).expect("history"),
        std::slice::from_ref(&path)
    );
    let records = read_back(&path);
    assert_eq!(
        records.len(),
        1,
        "a record larger than max_bytes is written alone"
    );
    assert_eq!(records[0].execution(), "e2");
}

#[test]
fn concurrent_writers_write_only_whole_lines_and_rotate_safely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let options = AuditOptions {
        max_bytes: 64 * 1024,
        keep: 100,
        code: CodeMode::Full,
    };
    let log = AuditLog::open(&path, options).expect("opens");
    let threads = 8;
    let per_thread = 500;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let log = log.clone();
            scope.spawn(move || {
                for n in 0..per_thread {
                    // Long enough that a split write would show.
                    let mut record = call(&format!("t{t}-{n}"), "github.create_issue");
                    record.error_kind = Some("y".repeat(300 + n % 700));
                    log.write(&record.into());
                }
            });
        }
    });
    let files = history(&path).expect("history");
    assert!(files.len() > 2, "rotated: {files:?}");
    let mut seen = std::collections::HashSet::new();
    for file in &files {
        for record in read_back(file) {
            assert!(seen.insert(record.execution().to_string()), "written once");
        }
    }
    assert_eq!(seen.len(), threads * per_thread, "none lost, none torn");
    // Within each thread, the order of writing is the order of reading.
    let order: Vec<String> = files
        .iter()
        .flat_map(|f| read_back(f))
        .map(|r| r.execution().to_string())
        .filter(|id| id.starts_with("t3-"))
        .collect();
    let expected: Vec<String> = (0..per_thread).map(|n| format!("t3-{n}")).collect();
    assert_eq!(order, expected);
}

#[test]
fn a_torn_last_line_is_skipped_and_the_rest_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    log.write(&call("e1", "a.b").into());
    log.write(&call("e2", "a.b").into());
    let whole = serde_json::to_string(&Record::from(call("e3", "a.b"))).expect("serialises");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("opens");
    file.write_all(&whole.as_bytes()[..whole.len() / 2])
        .expect("writes");
    drop(file);

    let lines: Vec<Line> = Records::open(&path)
        .expect("opens")
        .map(|l| l.expect("reads"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        matches!(&lines[1], Line::Record { number: 2, record, .. } if record.execution() == "e2")
    );
    assert_eq!(
        lines[2],
        Line::Skipped {
            number: 3,
            skip: Skip::Incomplete
        }
    );

    // A writer that opens the log after the one killed mid-record starts a line of its
    // own: the torn line stays the only loss.
    drop(log);
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens again");
    log.write(&call("e4", "a.b").into());
    let after: Vec<String> = Records::open(&path)
        .expect("opens")
        .filter_map(|l| match l.expect("reads") {
            Line::Record { record, .. } => Some(record.execution().to_string()),
            Line::Skipped { number, skip } => {
                assert_eq!((number, skip), (3, Skip::Incomplete));
                None
            }
        })
        .collect();
    assert_eq!(after, ["e1", "e2", "e4"]);
}

#[test]
fn foreign_lines_are_skipped_with_their_reason() {
    let good = serde_json::to_string(&Record::from(call("e1", "a.b"))).expect("serialises");
    let text = format!(
        "{good}\nnot json\n{{\"type\":\"policy.reload\"}}\n\n{{\"type\":\"call\"\n{good}\n"
    );
    let lines: Vec<Line> = records(BufReader::new(text.as_bytes()))
        .map(|l| l.expect("reads"))
        .collect();
    let numbers: Vec<u64> = lines.iter().map(Line::number).collect();
    assert_eq!(
        numbers,
        [1, 2, 3, 5, 6],
        "the blank line 4 is no record and no note"
    );
    assert!(matches!(lines[0], Line::Record { .. }));
    assert_eq!(
        lines[1],
        Line::Skipped {
            number: 2,
            skip: Skip::NotJson
        }
    );
    assert!(
        matches!(&lines[2], Line::Skipped { skip: Skip::NotARecord(why), .. } if why.contains("policy.reload"))
    );
    assert_eq!(
        lines[3],
        Line::Skipped {
            number: 5,
            skip: Skip::Incomplete
        }
    );
    assert!(matches!(lines[4], Line::Record { number: 6, .. }));
}

#[test]
fn open_names_the_missing_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nope/audit.jsonl");
    let error = AuditLog::open(&path, AuditOptions::default()).expect_err("no directory");
    assert!(matches!(error, AuditError::NoDirectory { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        !dir.path().join("nope").exists(),
        "never creates directories"
    );

    let error = AuditLog::open(dir.path(), AuditOptions::default()).expect_err("a directory");
    assert!(matches!(error, AuditError::Open { .. }), "{error:?}");
}

#[test]
fn a_failing_device_never_fails_or_panics_the_writer() {
    // /dev/full takes the open and refuses every write (ENOSPC).
    let log = AuditLog::open("/dev/full", AuditOptions::default()).expect("opens");
    for n in 0..1000 {
        log.write(&call(&format!("e{n}"), "a.b").into());
    }
}

#[test]
fn history_lists_rotated_files_oldest_first_and_needs_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    assert!(matches!(history(&path), Err(AuditError::NotFound { .. })));
    for name in [
        "audit.jsonl",
        "audit.jsonl.1",
        "audit.jsonl.10",
        "audit.jsonl.2",
        "audit.jsonl.bak",
        "audit.jsonl.01",
        "other.jsonl.1",
    ] {
        std::fs::write(dir.path().join(name), "").expect("writes");
    }
    let names: Vec<String> = history(&path)
        .expect("history")
        .iter()
        .map(|f| {
            f.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "audit.jsonl.10",
            "audit.jsonl.2",
            "audit.jsonl.1",
            "audit.jsonl"
        ]
    );
}
