//! A writer killed with SIGKILL mid-stream leaves a file whose every complete line is a
//! record; the reader skips the one it may have cut and reads everything else.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use codemode_audit::{
    AuditLog, AuditOptions, CallOutcome, CallRecord, Decision, Line, Records, Skip,
};

#[test]
fn sigkill_mid_stream_loses_at_most_the_last_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    for round in 0..3 {
        let mut writer = Command::new(env!("CARGO_BIN_EXE_codemode-audit-writer"))
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the writer starts");
        let mut ready = String::new();
        BufReader::new(writer.stdout.take().expect("piped"))
            .read_line(&mut ready)
            .expect("reads");
        assert_eq!(ready.trim(), "ready");
        std::thread::sleep(Duration::from_millis(150 + 70 * round));
        writer.kill().expect("SIGKILL");
        writer.wait().expect("reaped");
    }

    let text = std::fs::read(&path).expect("reads");
    let complete_lines = text.iter().filter(|&&b| b == b'\n').count();
    assert!(
        complete_lines > 10,
        "the writer wrote: {complete_lines} lines"
    );

    let lines: Vec<Line> = Records::open(&path)
        .expect("opens")
        .map(|line| line.expect("reads"))
        .collect();
    let mut records = 0;
    for line in &lines {
        match line {
            Line::Record { .. } => records += 1,
            // A round's cut last line; the next round started a line of its own after it.
            Line::Skipped {
                skip: Skip::Incomplete,
                ..
            } => {}
            Line::Skipped { number, skip } => panic!("line {number}: {skip:?}"),
        }
    }
    let skipped = lines.len() - records;
    assert!(skipped <= 3, "at most one cut line per kill: {skipped}");
    assert!(records + skipped >= complete_lines, "nothing else was lost");

    // A writer opened after the kills writes a whole line the reader finds.
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    let record = CallRecord::new(
        "after",
        "a.b",
        b"{}",
        Decision::allow("default"),
        CallOutcome::Ok,
        Duration::ZERO,
    );
    log.write(&record.into());
    let last = Records::open(&path)
        .expect("opens")
        .filter_map(|line| match line.expect("reads") {
            Line::Record { record, .. } => Some(*record),
            Line::Skipped { .. } => None,
        })
        .last()
        .expect("a record");
    assert_eq!(last.execution(), "after");
}
