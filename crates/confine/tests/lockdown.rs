//! Lock-down behaviour, each case in a child process of this test binary: lock-down is
//! irreversible and needs a single-threaded process, which the libtest harness is not. The
//! parent re-runs this binary with `CONFINE_SCENARIO=<name>` and judges the child's output and
//! how it ended (a seccomp kill shows as SIGSYS).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use codemode_confine::{
    filter_template, layer, lock_down, lock_down_forked, prepare_template, probe, ConfineError,
    LayerState, Policy, Report,
};
use codemode_demo::DemoHost;
use codemode_sandbox::{Execution, Limits, Sandbox};
use serde_json::{json, Value};

const SCENARIO: &str = "CONFINE_SCENARIO";
/// Set: the child locks down as a fork server's worker does (a filtered template forks it,
/// and it narrows the template's filter), not with `lock_down`.
const VIA_TEMPLATE: &str = "CONFINE_VIA_TEMPLATE";
static THROUGH_TEMPLATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const SECRET_NAME: &str = "CODEMODE_CONFINE_TEST_SECRET";
const SECRET_VALUE: &str = "hunter2-do-not-leak";

/// Snippets a confined worker must still run exactly as an unconfined one does.
const SNIPPETS: &[&str] = &[
    "return 1 + 2",
    include_str!("../../../examples/seed.ts"),
    "await new Promise(r => setTimeout(r, 10)); return [1, 2, 3].map(x => x * 2)",
    "const d = new Date(Date.UTC(2020, 0, 15, 10, 30)); \
     return [new Date(2020, 0, 15, 10, 30).getTimezoneOffset(), d.toISOString(), \
     typeof d.toString(), d.getHours() >= 0, JSON.stringify(d)]",
    "throw new Error('boom')",
    "let s = 0; for (let i = 0; i < 100000; i++) s += Math.random(); return s > 0",
    "const parts = []; while (true) parts.push(new Array(100000).fill(1));",
    "while (true) {}",
    "function f(n) { return f(n + 1) + 1 } return f(0)",
    "console.log('hi', { a: 1 }); return structuredClone({ x: [1, 2] })",
    "return await Promise.all([1, 2, 3, 4].map(id => tools.customers.get({ id: 'c-' + id }).catch(e => String(e))))",
];

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO) {
        child(&scenario);
        return;
    }
    let tests: &[(&str, fn())] = &[
        ("probe lists every layer", probe_lists_layers),
        (
            "the sandbox runs snippets after lock-down",
            sandbox_runs_confined,
        ),
        ("opening a file kills the worker", open_kills),
        ("std::fs::read kills the worker", std_read_kills),
        ("socket() kills the worker", socket_kills),
        ("execve kills the worker", exec_kills),
        ("fork kills the worker", fork_kills),
        ("signalling the parent kills the worker", kill_parent_kills),
        (
            "every other forbidden call kills the worker",
            forbidden_calls_kill,
        ),
        ("the environment is emptied", environment_is_empty),
        ("inherited descriptors are closed", inherited_fds_closed),
        (
            "Landlock alone refuses file access",
            landlock_alone_refuses_files,
        ),
        ("the address-space limit holds", address_space_limited),
        (
            "lock-down refuses a threaded process",
            threaded_process_refused,
        ),
        (
            "a worker forked from a filtered template is held by the same walls",
            through_a_template,
        ),
    ];
    let mut failures = 0;
    for (name, test) in tests {
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failures += 1;
            }
        }
    }
    println!("\n{} passed; {failures} failed", tests.len() - failures);
    if failures > 0 {
        std::process::exit(1);
    }
}

// ---- parent side -------------------------------------------------------------------------

fn run_child(scenario: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut command = Command::new(exe);
    if THROUGH_TEMPLATE.load(std::sync::atomic::Ordering::Relaxed) {
        command.env(VIA_TEMPLATE, "1");
    }
    let mut child = command
        .env(SCENARIO, scenario)
        .env(SECRET_NAME, SECRET_VALUE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary can be re-run");
    // Like the gateway, talk to the worker over its stdin (only "sandbox" reads it; the
    // others may be dead already, so a broken pipe is fine).
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"ping\n");
    }
    child
        .wait_with_output()
        .expect("the child can be waited for")
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_killed_by_seccomp(scenario: &str) {
    let output = run_child(scenario);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSYS),
        "{scenario}: expected death by SIGSYS, got {}",
        describe(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("locked down"),
        "{scenario}: the child did not reach the forbidden call: {}",
        describe(&output)
    );
    assert!(
        !stdout.contains("SURVIVED"),
        "{scenario}: the forbidden call returned: {}",
        describe(&output)
    );
}

fn assert_child_ok(scenario: &str) -> String {
    let output = run_child(scenario);
    assert!(
        output.status.success(),
        "{scenario}: child failed: {}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn probe_lists_layers() {
    let report = probe();
    println!("{report}");
    let names: Vec<&str> = report.layers.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, layer::ALL);
    for (name, state) in &report.layers {
        assert!(
            !matches!(state, LayerState::Failed(_)),
            "probe failed for {name}: {state:?}"
        );
    }
    // The kernels we build on offer both; if this fails, the machine lost a wall.
    assert_eq!(report.state(layer::SECCOMP), Some(&LayerState::Active));
    assert_eq!(report.state(layer::LANDLOCK), Some(&LayerState::Active));
}

fn sandbox_runs_confined() {
    let stdout = assert_child_ok("sandbox");
    let confined: Vec<Value> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("outcome "))
        .map(|json| serde_json::from_str(json).expect("the child prints JSON outcomes"))
        .collect();
    let unconfined = runtime().block_on(run_snippets());
    assert_eq!(confined.len(), SNIPPETS.len(), "child output:\n{stdout}");
    assert!(stdout.contains("stdin said ping"), "{stdout}");
    for ((snippet, confined), unconfined) in SNIPPETS.iter().zip(&confined).zip(&unconfined) {
        if snippet.contains("getTimezoneOffset") {
            // A worker's local time is UTC; the host's may not be.
            assert_eq!(confined["value"][0], json!(0), "{snippet}");
            assert_eq!(confined["value"][1], unconfined["value"][1], "{snippet}");
            continue;
        }
        assert_eq!(confined, unconfined, "snippet: {snippet}");
    }
    // And the limits did their job inside the worker, not by killing it.
    let kinds: Vec<&Value> = confined.iter().map(|o| &o["error"]).collect();
    assert_eq!(kinds[6], &json!("memory"), "{confined:?}");
    assert_eq!(kinds[7], &json!("timeout"), "{confined:?}");
}

fn open_kills() {
    assert_killed_by_seccomp("open");
}

fn std_read_kills() {
    assert_killed_by_seccomp("std_read");
}

fn socket_kills() {
    assert_killed_by_seccomp("socket");
}

fn exec_kills() {
    assert_killed_by_seccomp("exec");
}

fn fork_kills() {
    assert_killed_by_seccomp("fork");
}

fn kill_parent_kills() {
    assert_killed_by_seccomp("kill_parent");
}

/// Calls the allowlist must not let through, tried raw (zero arguments: the filter decides
/// before the kernel looks at them).
const FORBIDDEN: &[(&str, libc::c_long)] = &[
    ("openat", libc::SYS_openat),
    ("openat2", libc::SYS_openat2),
    ("creat", libc::SYS_creat),
    ("connect", libc::SYS_connect),
    ("bind", libc::SYS_bind),
    ("execveat", libc::SYS_execveat),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("mount", libc::SYS_mount),
    ("bpf", libc::SYS_bpf),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("keyctl", libc::SYS_keyctl),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("seccomp", libc::SYS_seccomp),
    ("prlimit64", libc::SYS_prlimit64),
    ("vfork", libc::SYS_vfork),
    // What only a fork server's template may call.
    ("wait4", libc::SYS_wait4),
    ("sendmsg", libc::SYS_sendmsg),
    ("recvmsg", libc::SYS_recvmsg),
    ("capset", libc::SYS_capset),
    ("dup3", libc::SYS_dup3),
    ("getppid", libc::SYS_getppid),
    ("landlock_create_ruleset", libc::SYS_landlock_create_ruleset),
    ("landlock_add_rule", libc::SYS_landlock_add_rule),
    ("landlock_restrict_self", libc::SYS_landlock_restrict_self),
    ("dup2", libc::SYS_dup2),
    ("close_range", libc::SYS_close_range),
    ("kill", libc::SYS_kill),
];

/// The same walls, for a worker forked from a template under its own filter: the template's
/// extra calls (`prlimit64`, `seccomp`, `wait4`, `kill`, its socket, ...) are taken back.
fn through_a_template() {
    THROUGH_TEMPLATE.store(true, std::sync::atomic::Ordering::Relaxed);
    let result = std::panic::catch_unwind(|| {
        sandbox_runs_confined();
        open_kills();
        socket_kills();
        exec_kills();
        fork_kills();
        kill_parent_kills();
        forbidden_calls_kill();
        environment_is_empty();
        address_space_limited();
    });
    THROUGH_TEMPLATE.store(false, std::sync::atomic::Ordering::Relaxed);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn forbidden_calls_kill() {
    for (name, _) in FORBIDDEN {
        assert_killed_by_seccomp(&format!("raw:{name}"));
    }
}

fn environment_is_empty() {
    let stdout = assert_child_ok("env");
    assert!(!stdout.contains(SECRET_VALUE), "secret leaked: {stdout}");
    assert!(stdout.contains("env [\"TZ=UTC\"]"), "{stdout}");
}

fn inherited_fds_closed() {
    let stdout = assert_child_ok("fds");
    assert!(stdout.contains("fd closed"), "{stdout}");
}

fn landlock_alone_refuses_files() {
    let stdout = assert_child_ok("landlock");
    assert!(
        stdout.contains("open refused: EACCES"),
        "with seccomp in audit mode, Landlock must still refuse: {stdout}"
    );
}

fn address_space_limited() {
    let output = run_child("address_space");
    // Rust aborts on allocation failure: SIGABRT proves both the limit and that abort()
    // (tgkill on itself) is allowed.
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "{}",
        describe(&output)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("memory allocation"));
}

fn threaded_process_refused() {
    let stdout = assert_child_ok("threaded");
    assert!(
        stdout.contains("refused: lock_down must run before"),
        "{stdout}"
    );
}

// ---- child side --------------------------------------------------------------------------

/// `lock_down`, or with [`VIA_TEMPLATE`] the fork server's way: this process becomes a
/// filtered template that forks the child which goes on with the scenario, and ends as the
/// child ended (its signal raised again), so the parent judges the child.
fn lock(policy: &Policy) -> Result<Report, ConfineError> {
    if std::env::var_os(VIA_TEMPLATE).is_none() {
        return lock_down(policy);
    }
    let mut template = prepare_template()?;
    filter_template(&mut template, policy)?;
    // SAFETY: single-threaded (prepare_template checked), and the child only goes on.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        return lock_down_forked(policy, &template);
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: restoring the default action and raising the child's signal on ourselves.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
    std::process::exit(libc::WEXITSTATUS(status))
}

fn child(scenario: &str) {
    if scenario == "threaded" {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || rx.recv());
        match lock_down(&Policy::default()) {
            Err(e @ ConfineError::Threaded { .. }) => println!("refused: {e}"),
            other => println!("NOT refused: {other:?}"),
        }
        drop(tx);
        let _ = handle.join();
        return;
    }
    // A descriptor the parent "leaked" to the worker, opened before lock-down.
    let leaked = std::fs::File::open("/dev/null").expect("/dev/null opens");
    let leaked_fd = std::os::fd::IntoRawFd::into_raw_fd(leaked);
    let policy = match scenario {
        "landlock" => Policy {
            audit: true,
            ..Policy::default()
        },
        "address_space" => Policy {
            address_space_bytes: 512 * 1024 * 1024,
            ..Policy::default()
        },
        _ => Policy::default(),
    };
    let report = match lock(&policy) {
        Ok(report) => report,
        Err(e) => {
            println!("lock_down failed: {e}");
            std::process::exit(3);
        }
    };
    println!("locked down: {}", report.summary());
    flush();
    match scenario {
        "sandbox" => {
            // The worker reads its pipe on a thread of its own, blocking.
            let reader = std::thread::spawn(|| {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map(|_| line)
            });
            let runtime = runtime();
            for outcome in runtime.block_on(run_snippets()) {
                println!("outcome {outcome}");
            }
            match reader.join() {
                Ok(Ok(line)) => println!("stdin said {}", line.trim()),
                other => println!("stdin failed: {other:?}"),
            }
        }
        "open" => {
            // SAFETY: a C string literal; the call is expected to kill us.
            let fd = unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) };
            println!("SURVIVED open: {fd}");
        }
        "std_read" => println!(
            "SURVIVED read: {:?}",
            std::fs::read("/etc/passwd").map(|b| b.len())
        ),
        "socket" => {
            // SAFETY: plain integer arguments.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            println!("SURVIVED socket: {fd}");
        }
        "exec" => {
            let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
            // SAFETY: NUL-terminated argv of C string literals.
            let rc = unsafe { libc::execv(c"/bin/true".as_ptr(), argv.as_ptr()) };
            println!("SURVIVED execv: {rc}");
        }
        "fork" => {
            // SAFETY: the child, if any, exits at once.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: leaving the forked child without running anything.
                unsafe { libc::_exit(0) };
            }
            println!("SURVIVED fork: {pid}");
        }
        "kill_parent" => {
            // SAFETY: signal 0 only checks that the parent exists.
            let rc = unsafe { libc::kill(libc::getppid(), 0) };
            println!("SURVIVED kill: {rc}");
        }
        "env" => {
            let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            println!("env {vars:?}");
        }
        "fds" => {
            // SAFETY: F_GETFD on a number; EBADF if it is closed.
            let rc = unsafe { libc::fcntl(leaked_fd, libc::F_GETFD) };
            let error = std::io::Error::last_os_error().raw_os_error();
            if rc == -1 && error == Some(libc::EBADF) {
                println!("fd closed");
            } else {
                println!("fd {leaked_fd} still open: {rc}");
            }
        }
        "landlock" => {
            if report.state(layer::LANDLOCK) != Some(&LayerState::Active) {
                println!("landlock unavailable here");
                std::process::exit(4);
            }
            // SAFETY: a C string literal.
            let fd = unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) };
            let error = std::io::Error::last_os_error().raw_os_error();
            if fd == -1 && error == Some(libc::EACCES) {
                println!("open refused: EACCES");
            } else {
                println!("open not refused: fd {fd}, errno {error:?}");
            }
        }
        "address_space" => {
            // black_box: an optimised build would otherwise leave the unused allocation out.
            let big: Vec<u8> = std::hint::black_box(vec![1; 768 * 1024 * 1024]);
            println!("SURVIVED allocation of {}", big.len());
        }
        other if other.starts_with("raw:") => {
            let name = &other["raw:".len()..];
            let Some((_, number)) = FORBIDDEN.iter().find(|(n, _)| *n == name) else {
                println!("unknown call {name}");
                std::process::exit(2);
            };
            // SAFETY: the filter kills the process before the kernel reads any argument.
            let rc = unsafe { libc::syscall(*number, 0, 0, 0, 0, 0, 0) };
            println!("SURVIVED {name}: {rc}");
        }
        other => {
            println!("unknown scenario {other}");
            std::process::exit(2);
        }
    }
    flush();
}

fn flush() {
    let _ = std::io::stdout().flush();
}

/// A worker-like runtime: explicit thread count, because tokio's default asks
/// `available_parallelism`, which reads cgroup files (an open() the worker may not make),
/// and timers only: when a build unifies tokio's `signal` feature in (the workspace's does),
/// `enable_all` starts a signal driver that needs `socketpair`, which the filter refuses.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio starts")
}

async fn run_snippets() -> Vec<Value> {
    let host = Arc::new(DemoHost::new());
    // The seed example alone takes 220-350 ms of CPU in a debug build on a 2-core machine:
    // the budget must leave it room, or the unconfined side flakes into a timeout.
    let limits = Limits {
        cpu_time: Duration::from_secs(1),
        ..Limits::default()
    };
    let mut outcomes = Vec::new();
    for snippet in SNIPPETS {
        let execution = Sandbox::execute(snippet, host.clone(), limits.clone()).await;
        outcomes.push(outcome(&execution));
    }
    // A few at once too: several snippet threads alive together.
    let concurrent = futures_join(host, limits).await;
    assert!(concurrent.iter().all(|v| v == &json!(3)), "{concurrent:?}");
    outcomes
}

async fn futures_join(host: Arc<DemoHost>, limits: Limits) -> Vec<Value> {
    let mut handles = Vec::new();
    for _ in 0..4 {
        let host = host.clone();
        let limits = limits.clone();
        handles.push(tokio::spawn(async move {
            Sandbox::execute("return 1 + 2", host, limits).await.value()
        }));
    }
    let mut values = Vec::new();
    for handle in handles {
        values.push(handle.await.unwrap_or(Value::Null));
    }
    values
}

fn outcome(execution: &Execution) -> Value {
    match &execution.returned() {
        Ok(value) => json!({ "value": value, "logs": execution.logs.len() }),
        Err(error) => json!({ "error": error.kind, "message": error.message }),
    }
}
