//! Sandbox executions in separate worker processes: the gateway's side ([`WorkerPool`])
//! and the worker's ([`worker_main`], run as `codemode __worker`).
//!
//! Code written by a model is hostile input. The sandbox's own walls are one layer; this
//! crate adds a process boundary: each execution runs in a fresh worker process with an
//! empty environment, only its pipes, and the OS lock-down applied before it reads any
//! code; workers are forked from a pre-initialised template process (the fork server) that
//! has a sandbox built for them to copy, so a fresh one is ready in well under a
//! millisecond. Tool calls travel over the pipe to the gateway, which holds the upstream
//! connections and credentials, checks each call against the catalogue, and keeps the audit
//! trail of calls even when the worker dies.
//!
//! This crate must never let a worker reach anything but its pipe (no environment, no
//! inherited descriptors, no tools outside the catalogue it was given), must never trust
//! what a worker sends, and must never let a worker's failure reach the gateway or another
//! execution.

mod backstop;
mod code_pages;
mod confinement;
mod cpu;
mod ending;
mod error;
mod fork_server;
mod heap;
mod hooks;
mod pool;
mod process;
pub mod protocol;
mod supervise;
mod worker;
mod zygote;

pub use backstop::Backstop;
pub use error::{ProtocolError, SpawnError};
pub use pool::{PoolOptions, WorkerPool, TEST_HOOKS_ENV};
pub use worker::{worker_main, WorkerOptions};
