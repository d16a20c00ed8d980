//! Server lifecycles: crash and restart, crash loops, deadlines and cancellation, list_changed,
//! startup timeouts, env/cwd, and process cleanup.

mod common;

use std::time::{Duration, Instant};

use codemode_upstream::{CallError, Options, RestartPolicy, ServerState, Upstreams};
use common::*;
use serde_json::json;

const CALL: Duration = Duration::from_secs(20);

/// A server that dies mid-session (on request, then by SIGKILL) is restarted; the call that
/// was in flight learns why, and later calls work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_server_is_restarted() {
    init_tracing();
    let upstreams = Upstreams::start(&config(vec![fixture("fx", "stdio")])).await;
    let first = status(&upstreams, "fx");
    assert_eq!(first.state, ServerState::Ready);
    let first_pid = first.pid.unwrap();

    let err = upstreams
        .call("fx", "crash", json!({}), CALL)
        .await
        .unwrap_err();
    match &err {
        CallError::Connection { message, .. } => {
            assert!(message.contains("exit status: 3"), "{message}");
            assert!(
                message.contains("crashing on request"),
                "stderr tail expected: {message}"
            );
        }
        other => panic!("expected a lost connection, got {other:?}"),
    }
    assert!(
        upstreams.tools()["fx"].iter().any(|t| t.name == "echo"),
        "tools stay listed while restarting"
    );
    let second = wait_for_state(&upstreams, "fx", Duration::from_secs(10), is_ready).await;
    assert_eq!(second.restarts, 1);
    let second_pid = second.pid.unwrap();
    assert_ne!(second_pid, first_pid);
    assert!(!process_alive(first_pid));
    let out = upstreams
        .call("fx", "echo", json!({"message": "back"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("back"));

    kill(second_pid);
    let third = wait_for_status(&upstreams, "fx", Duration::from_secs(10), |s| {
        s.state == ServerState::Ready && s.pid.is_some() && s.pid != Some(second_pid)
    })
    .await;
    assert_eq!(third.restarts, 2);
    let out = upstreams
        .call("fx", "echo", json!({"message": "again"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("again"));
    upstreams.shutdown().await;
    assert!(!process_alive(third.pid.unwrap()));
}

/// A server that keeps dying right after it starts is given up on after the policy's number of
/// restarts, with the reason, and its tools are withdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_is_reported_and_retrying_stops() {
    init_tracing();
    let options = Options {
        restart: RestartPolicy {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            max_restarts: 2,
            stable_after: Duration::from_secs(60),
        },
        ..Options::default()
    };
    let upstreams =
        Upstreams::start_with(&config(vec![fixture("flaky", "crash-after-init")]), options).await;
    let mut changes = upstreams.changes();
    let failed = wait_for_state(&upstreams, "flaky", Duration::from_secs(20), |s| {
        matches!(s, ServerState::Failed { .. })
    })
    .await;
    let ServerState::Failed { reason } = &failed.state else {
        unreachable!()
    };
    assert!(
        reason.starts_with("crash loop: gave up after 2 restarts in a row"),
        "{reason}"
    );
    assert!(reason.contains("exit status: 4"), "{reason}");
    assert!(
        reason.contains("going down shortly after initialize"),
        "{reason}"
    );
    assert_eq!(failed.restarts, 2);
    assert!(upstreams.tools().is_empty());
    assert!(
        changes.has_changed().unwrap(),
        "withdrawing tools must bump the generation"
    );
    changes.mark_unchanged();
    let err = upstreams
        .call("flaky", "echo", json!({"message": "x"}), CALL)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Unavailable { .. }), "{err}");
    upstreams.shutdown().await;
}

/// A call that outlives its deadline fails with `Timeout` at the deadline, and the server is
/// told (`notifications/cancelled`): the fixture records the cancellation it received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_call_is_cancelled_at_its_deadline() {
    init_tracing();
    let mut capped = fixture("capped", "stdio");
    capped.call_timeout = Some(Duration::from_millis(300));
    let upstreams = Upstreams::start(&config(vec![
        fixture("fx", "stdio"),
        capped,
        everything_stdio("everything"),
    ]))
    .await;

    let started = Instant::now();
    let err = upstreams
        .call(
            "fx",
            "sleep",
            json!({"ms": 60_000}),
            Duration::from_millis(400),
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(
        err,
        CallError::Timeout {
            server: "fx".into(),
            tool: "sleep".into(),
            timeout: Duration::from_millis(400)
        }
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");

    // The cancellation is a notification: give it a moment to arrive.
    let deadline = Instant::now() + Duration::from_secs(5);
    let recorded = loop {
        let out = upstreams
            .call("fx", "cancellations", json!({}), CALL)
            .await
            .unwrap();
        if out.value().as_array().is_some_and(|a| !a.is_empty()) {
            break out.value();
        }
        assert!(
            Instant::now() < deadline,
            "the server never saw notifications/cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(recorded.as_array().unwrap().len(), 1, "{recorded}");
    assert!(
        recorded[0]["reason"]
            .as_str()
            .unwrap()
            .contains("abandoned"),
        "{recorded}"
    );

    // The config's callTimeoutMs caps a longer caller deadline.
    let err = upstreams
        .call("capped", "sleep", json!({"ms": 60_000}), CALL)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Timeout { timeout, .. } if timeout == Duration::from_millis(300)),
        "{err}"
    );

    // A real server's long operation is cut off the same way, and the server stays usable.
    let err = upstreams
        .call(
            "everything",
            "trigger-long-running-operation",
            json!({"duration": 30, "steps": 30}),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    let out = upstreams
        .call("everything", "echo", json!({"message": "responsive"}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("Echo: responsive"));
    upstreams.shutdown().await;
}

/// `notifications/tools/list_changed` re-lists that server's tools and bumps `changes()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changed_refreshes_the_servers_tools() {
    init_tracing();
    let upstreams = Upstreams::start(&config(vec![
        fixture("fx", "stdio"),
        everything_stdio("everything"),
    ]))
    .await;
    let mut changes = upstreams.changes();
    changes.mark_unchanged();
    let before = *changes.borrow();
    assert_eq!(status(&upstreams, "fx").tools, 9);

    upstreams
        .call("fx", "add_tool", json!({"name": "late_arrival"}), CALL)
        .await
        .unwrap();
    // Other servers may announce changes too (server-everything does after initialize), so
    // wait for a change after which fx has its new tool.
    let refreshed = async {
        loop {
            changes.changed().await.unwrap();
            if status(&upstreams, "fx").tools == 10 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refreshed)
        .await
        .expect("fx's tool list was not refreshed after list_changed");
    assert!(*changes.borrow() > before);
    assert_eq!(
        status(&upstreams, "everything").tools,
        13,
        "other servers are untouched"
    );
    assert!(upstreams.tools()["fx"]
        .iter()
        .any(|t| t.name == "late_arrival"));
    let out = upstreams
        .call("fx", "late_arrival", json!({}), CALL)
        .await
        .unwrap();
    assert_eq!(out.value(), json!("dynamic tool late_arrival ran"));
    upstreams.shutdown().await;
}

/// A server that never answers `initialize` fails at its startup timeout, with its stderr, and
/// its process is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_timeout_is_reported_and_the_child_killed() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!(
        "echo $$ > {}; echo 'warming up forever' >&2; exec sleep 300",
        pid_file.display()
    );
    let mut mute = stdio("mute", "sh", &["-c", &script], &[]);
    mute.startup_timeout = Duration::from_millis(700);
    let started = Instant::now();
    let upstreams = Upstreams::start(&config(vec![mute, fixture("fine", "stdio")])).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    match status(&upstreams, "mute").state {
        ServerState::Failed { reason } => {
            assert!(reason.contains("startup timeout of 700 ms"), "{reason}");
            assert!(reason.contains("warming up forever"), "{reason}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(status(&upstreams, "fine").state, ServerState::Ready);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !process_alive(pid),
        "the unresponsive child {pid} was left running"
    );
    upstreams.shutdown().await;
}

/// `env` and `cwd` reach the child; shutdown also ends processes the server started in its
/// process group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_cwd_and_process_group_cleanup() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let helper_pid_file = dir.path().join("helper.pid");
    let sdk = path_string(&npm_package("@modelcontextprotocol/sdk"));
    // A wrapper that leaves a helper process behind, as launchers sometimes do.
    let script = format!(
        "sleep 300 & echo $! > {}; exec {} {} stdio",
        helper_pid_file.display(),
        node(),
        fixture_script()
    );
    let mut wrapped = stdio("wrapped", "sh", &["-c", &script], &[("MCP_SDK_DIR", &sdk)]);
    if let codemode_upstream::Transport::Stdio(spec) = &mut wrapped.transport {
        spec.cwd = Some(dir.path().to_path_buf());
    }
    let mut everything = everything_stdio("everything");
    if let codemode_upstream::Transport::Stdio(spec) = &mut everything.transport {
        spec.env
            .insert("CODEMODE_TEST_SETTING".into(), "forty-two".into());
    }
    let upstreams = Upstreams::start(&config(vec![wrapped, everything])).await;

    let out = upstreams
        .call("wrapped", "whoami", json!({}), CALL)
        .await
        .unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(out.value()["cwd"], json!(path_string(&cwd)));
    let out = upstreams
        .call("everything", "get-env", json!({}), CALL)
        .await
        .unwrap();
    assert_eq!(
        out.value()["CODEMODE_TEST_SETTING"],
        "forty-two",
        "{}",
        out.value()
    );

    let helper: u32 = std::fs::read_to_string(&helper_pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_alive(helper));
    upstreams.shutdown().await;
    assert!(
        !process_alive(helper),
        "a process in the server's group survived shutdown"
    );
}
