//! The audit trail: who ran what code, which tools it called, what policy decided and how
//! each call ended, as one JSON object per line in an append-only file that rotates by
//! size; and the reader that `codemode audit` prints it with.
//!
//! * [`Record`]: the three kinds of line (`execute.start`, `execute`, `call`), with
//!   constructors: a call's takes the arguments' JSON text and keeps only its SHA-256
//!   ([`digest`]) and size; an execution's keeps the code and its SHA-256. [`Timestamp`]
//!   is their time, RFC 3339 in UTC to the millisecond.
//! * [`AuditLog`]: the writer. One `write(2)` per record, no buffering in the process (a
//!   `kill -9` loses at most the record being written), rotation to `FILE.1` … `FILE.<keep>`
//!   ([`AuditOptions`]), and the code left out when [`CodeMode::Hash`] says so. Writing
//!   never fails the caller: an I/O error is a rate-limited warning.
//! * The reader: lines back with their numbers, past torn or foreign lines ([`records`],
//!   [`Line`]); a log's files in order ([`history`]); following a growing, rotating file
//!   ([`Follower`]); which records to show ([`Filter`], [`parse_since`]).
//!
//! This crate must never hold tool arguments, results, headers or environment values: of
//! arguments it keeps the digest and size (the bytes it is handed to digest are dropped
//! there and then), of results the size, so an audit file can be kept and shared without
//! becoming a copy of the secrets that passed through the gateway. It must never panic or
//! block for long on the caller's path, and never create directories.

mod error;
mod options;
mod reader;
mod record;
mod time;
mod writer;

pub use error::AuditError;
pub use options::{AuditOptions, CodeMode};
pub use reader::{history, records, Filter, Follower, Line, Records, Skip};
pub use record::{
    digest, Action, CallOutcome, CallRecord, Decision, ExecuteEnd, ExecuteOutcome, ExecuteStart,
    Record,
};
pub use time::{parse_since, InvalidTime, Timestamp};
pub use writer::AuditLog;
