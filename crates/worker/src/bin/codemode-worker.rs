//! The worker on its own (`codemode __worker` is the same entry point): used by this
//! crate's tests, which cannot build the `codemode` binary. Takes the same arguments:
//! `[--zygote] [--test-hooks] [--cpu-seconds N] [--address-space-bytes B]`.

use std::process::ExitCode;

use codemode_worker::{worker_main, WorkerOptions};

fn main() -> ExitCode {
    let mut options = WorkerOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = match arg.as_str() {
            "--test-hooks" => {
                options.test_hooks = true;
                continue;
            }
            "--zygote" => {
                options.zygote = true;
                continue;
            }
            "--cpu-seconds" => &mut options.cpu_seconds,
            "--address-space-bytes" => &mut options.address_space_bytes,
            other => {
                eprintln!("codemode-worker: unknown argument {other:?}");
                return ExitCode::from(64);
            }
        };
        match args.next().and_then(|value| value.parse().ok()) {
            Some(value) => *number = Some(value),
            None => {
                eprintln!("codemode-worker: {arg} needs a number");
                return ExitCode::from(64);
            }
        }
    }
    worker_main(options)
}
