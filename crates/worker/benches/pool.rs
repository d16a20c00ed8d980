//! Latency of a trivial `execute` through the worker pool against in process, and
//! executions per second, printed as a table. `cargo bench -p codemode-worker`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codemode_demo::DemoHost;
use codemode_sandbox::{Limits, Sandbox, ToolHost};
use codemode_worker::{PoolOptions, WorkerPool};

const TRIVIAL: &str = "return 1 + 1";
const WITH_CALLS: &str =
    "const o = await tools.orders.list({ since: '2026-06-01' }); return (await tools.orders.get({ id: o[0].id })).id";
const SAMPLES: usize = 200;

fn host() -> Arc<dyn ToolHost> {
    Arc::new(DemoHost::new())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p90(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 9 / 10]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn latency_in_process(code: &str) -> Vec<Duration> {
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let execution = Sandbox::execute(code, host(), Limits::default()).await;
        samples.push(started.elapsed());
        assert!(execution.is_ok(), "{:?}", execution.returned());
    }
    samples
}

/// `gap`: time between executions, so the pool can refill (an agent's pace) or not (zero).
async fn latency_pool(pool: &WorkerPool, code: &str, gap: Duration) -> Vec<Duration> {
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        tokio::time::sleep(gap).await;
        let started = Instant::now();
        let execution = pool.execute(code, host(), Limits::default()).await;
        samples.push(started.elapsed());
        assert!(execution.is_ok(), "{:?}", execution.returned());
    }
    samples
}

async fn throughput<F, Fut>(concurrency: usize, run: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let window = Duration::from_secs(4);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let run = run.clone();
            tokio::spawn(async move {
                let mut count = 0u64;
                while started.elapsed() < window {
                    run().await;
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    total as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut options = PoolOptions::new(env!("CARGO_BIN_EXE_codemode-worker"), Vec::new());
    options.size = 2;
    options.max_workers = 4;
    let pool = WorkerPool::new(options);
    pool.warm_up();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut rows: Vec<(String, Vec<Duration>)> = Vec::new();
    rows.push((
        "in process, trivial".into(),
        latency_in_process(TRIVIAL).await,
    ));
    rows.push((
        "in process, 2 tool calls".into(),
        latency_in_process(WITH_CALLS).await,
    ));
    let paced = Duration::from_millis(20);
    rows.push((
        "pool (warm, 20 ms apart), trivial".into(),
        latency_pool(&pool, TRIVIAL, paced).await,
    ));
    rows.push((
        "pool (warm, 20 ms apart), 2 tool calls".into(),
        latency_pool(&pool, WITH_CALLS, paced).await,
    ));
    rows.push((
        "pool (back to back), trivial".into(),
        latency_pool(&pool, TRIVIAL, Duration::ZERO).await,
    ));

    println!(
        "\n{:<42} {:>10} {:>10}",
        "latency of one execute", "median", "p90"
    );
    for (name, samples) in rows {
        println!(
            "{name:<42} {:>10} {:>10}",
            ms(median(samples.clone())),
            ms(p90(samples))
        );
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let in_process = throughput(4, || async {
        let _ = Sandbox::execute(TRIVIAL, host(), Limits::default()).await;
    })
    .await;
    let pooled = {
        let pool = pool.clone();
        throughput(4, move || {
            let pool = pool.clone();
            async move {
                let _ = pool.execute(TRIVIAL, host(), Limits::default()).await;
            }
        })
        .await
    };
    println!(
        "\n{:<42} {:>10}",
        format!("executions per second ({cores} cores, 4 at once)"),
        "exec/s"
    );
    println!("{:<42} {:>10.0}", "in process, trivial", in_process);
    println!(
        "{:<42} {:>10.0}",
        "pool, trivial (a fresh process each)", pooled
    );
}
