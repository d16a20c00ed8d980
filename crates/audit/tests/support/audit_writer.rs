//! Appends call records to the audit log named by its first argument in bursts, until it
//! is killed: the subject of the kill -9 test (`tests/kill.rs`). It prints `ready` on
//! stdout once the first record is written.

use std::io::Write;
use std::time::Duration;

use codemode_audit::{AuditLog, AuditOptions, CallOutcome, CallRecord, Decision, Record};

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: codemode-audit-writer FILE");
        std::process::exit(2);
    };
    let log = match AuditLog::open(path, AuditOptions::default()) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("codemode-audit-writer: {e}");
            std::process::exit(2);
        }
    };
    // Records of varied sizes, up to a few pages: a kill may land mid-write. Bursts with
    // pauses keep the file to a few megabytes on a shared machine.
    let padding = "x".repeat(4096);
    for n in 0u64.. {
        let mut call = CallRecord::new(
            format!("e{n}"),
            "github.create_issue",
            b"{}",
            Decision::allow("default"),
            CallOutcome::Ok,
            Duration::from_millis(n % 1000),
        );
        let size = usize::try_from(n.wrapping_mul(7919) % 4096).unwrap_or(0);
        call.error_kind = Some(padding[..size].to_string());
        log.write(&Record::Call(call));
        if n == 0 {
            println!("ready");
            let _ = std::io::stdout().flush();
        }
        if n % 20 == 19 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
