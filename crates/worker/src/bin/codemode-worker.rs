//! The worker on its own (`codemode __worker` is the same entry point): used by this
//! crate's tests, which cannot build the `codemode` binary.

use std::process::ExitCode;

use codemode_worker::{worker_main, WorkerOptions};

fn main() -> ExitCode {
    let test_hooks = std::env::args().skip(1).any(|arg| arg == "--test-hooks");
    worker_main(WorkerOptions { test_hooks })
}
