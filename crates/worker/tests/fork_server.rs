//! The fork server: workers are forked from a warmed-up template, locked down in the child,
//! and when the template dies the pool goes on starting workers itself.

mod common;

use codemode_worker::{PoolOptions, WorkerPool};
use common::{pool, pool_options, run};
use serde_json::json;

/// The fork servers started by this test process (children whose command line says so).
fn fork_servers() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if parent == me && cmdline.split(|b| *b == 0).any(|arg| arg == b"--zygote") {
            found.push(pid);
        }
    }
    found
}

/// One test, not two: the search for this process's fork servers would find another
/// test's.
#[tokio::test(flavor = "multi_thread")]
async fn workers_are_forked_from_the_template_which_may_die() {
    let pool = pool();
    assert_eq!(run(&pool, "return 40 + 2").await.value(), json!(42));
    assert!(pool.forks_workers().await);
    // The forked workers are as locked down as started ones.
    let execution = run(
        &pool,
        "return await tools.__test.open({ path: '/etc/passwd' })",
    )
    .await;
    let error = execution.returned().expect_err("the wall holds");
    assert!(
        error.message.contains("failed:") || error.message.contains("SIGSYS"),
        "{}",
        error.message
    );

    // A dead template costs nothing but speed: executions go on, and a new template is
    // started for the ones after.
    let servers = fork_servers();
    assert_eq!(servers.len(), 1, "{servers:?}");
    // SAFETY: a child process of this test.
    unsafe { libc::kill(servers[0], libc::SIGKILL) };
    for i in 0..4 {
        let code = format!("return {i} * 2");
        assert_eq!(
            run(&pool, &code).await.value(),
            json!(i * 2),
            "execution {i}"
        );
    }
    // The replacement template starts with the next refill, which may still be under way
    // (a spare warm worker's replacement starts after its execution).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pool.forks_workers().await && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(pool.forks_workers().await);
    let after = fork_servers();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, servers);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_fork_server_workers_are_started() {
    let pool = WorkerPool::new(PoolOptions {
        fork_server: false,
        ..pool_options()
    });
    assert_eq!(
        run(&pool, "return 'started'").await.value(),
        json!("started")
    );
    assert!(!pool.forks_workers().await);
}
