//! Following a log as it grows: whole lines only, a partial line held until its newline,
//! and on across a rotation or a truncation.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use codemode_audit::{
    AuditLog, AuditOptions, CallOutcome, CallRecord, CodeMode, Decision, Follower, Line, Record,
};

fn line_of(execution: &str) -> String {
    let record = CallRecord::new(
        execution,
        "github.get_repo",
        b"{}",
        Decision::allow("default"),
        CallOutcome::Ok,
        Duration::from_millis(3),
    );
    let mut line = serde_json::to_string(&Record::from(record)).expect("serialises");
    line.push('\n');
    line
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("opens");
    file.write_all(text.as_bytes()).expect("writes");
}

/// What the follower has now: executions of records, `skipped N` for the others.
fn drain(follower: &mut Follower) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(line) = follower.next_line().expect("reads") {
        seen.push(match line {
            Line::Record { record, .. } => record.execution().to_string(),
            Line::Skipped { number, skip } => format!("skipped {number} {skip:?}"),
        });
    }
    seen
}

#[test]
fn holds_a_partial_line_until_its_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    append(&path, &line_of("e1"));
    let mut follower = Follower::open(&path).expect("opens");
    assert_eq!(drain(&mut follower), ["e1"]);
    assert!(drain(&mut follower).is_empty());

    let second = line_of("e2");
    let (head, tail) = second.split_at(second.len() / 2);
    append(&path, head);
    assert!(
        drain(&mut follower).is_empty(),
        "half a line is not a line yet"
    );
    append(&path, tail);
    append(&path, &line_of("e3"));
    assert_eq!(drain(&mut follower), ["e2", "e3"]);
}

#[test]
fn follows_across_rotations_by_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let one = line_of("e00").len() as u64;
    let log = AuditLog::open(
        &path,
        AuditOptions {
            max_bytes: one * 2,
            keep: 3,
            code: CodeMode::Full,
        },
    )
    .expect("opens");
    let mut follower = Follower::open(&path).expect("opens");
    let mut seen = Vec::new();
    for n in 0..10 {
        let record = CallRecord::new(
            format!("e{n:02}"),
            "github.get_repo",
            b"{}",
            Decision::allow("default"),
            CallOutcome::Ok,
            Duration::from_millis(3),
        );
        log.write(&record.into());
        // Read every other record, so at most one rotation happens between two reads: the
        // one file it might miss is finished before the new one is started.
        if n % 2 == 1 {
            seen.extend(drain(&mut follower));
        }
    }
    seen.extend(drain(&mut follower));
    let expected: Vec<String> = (0..10).map(|n| format!("e{n:02}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_line_left_unfinished_in_a_rotated_file_is_noted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    append(&path, &line_of("e1"));
    let mut follower = Follower::open(&path).expect("opens");
    assert_eq!(drain(&mut follower), ["e1"]);
    let cut = line_of("e2");
    append(&path, &cut[..cut.len() / 2]);
    assert!(drain(&mut follower).is_empty());
    std::fs::rename(&path, dir.path().join("audit.jsonl.1")).expect("rotates");
    assert!(drain(&mut follower).is_empty(), "no file yet: wait for it");
    append(&path, &line_of("e3"));
    assert_eq!(drain(&mut follower), ["skipped 2 Incomplete", "e3"]);
}

#[test]
fn starts_again_when_the_file_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    append(&path, &line_of("e1"));
    append(&path, &line_of("e2"));
    let mut follower = Follower::open(&path).expect("opens");
    assert_eq!(drain(&mut follower), ["e1", "e2"]);
    std::fs::write(&path, line_of("e3")).expect("truncates");
    assert_eq!(drain(&mut follower), ["e3"]);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = Follower::open(&dir.path().join("none.jsonl")).expect_err("missing");
    assert!(error.to_string().contains("does not exist"), "{error}");
}
