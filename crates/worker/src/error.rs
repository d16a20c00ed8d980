//! What can go wrong between the gateway and a worker. None of these reach the agent as
//! such: the pool turns them into an execution error that says what happened.

/// A frame that could not be sent or did not follow the protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("a frame of {bytes} bytes exceeds the {} MiB cap", crate::protocol::MAX_FRAME_BYTES / (1024 * 1024))]
    TooLarge { bytes: usize },
    #[error("a frame is not a valid message ({source}); it starts {preview:?}")]
    Malformed {
        #[source]
        source: serde_json::Error,
        preview: String,
    },
    #[error("a message could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("the pipe failed: {0}")]
    Io(#[source] std::io::Error),
}

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("could not start the worker process {program}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the worker process gave no greeting within {ms} ms")]
    NoHello { ms: u128 },
    /// `status` says how it ended, and what it last wrote to stderr.
    #[error("{status}")]
    DiedAtStart { status: String },
    #[error("the worker's greeting was wrong: {0}")]
    BadHello(String),
    #[error("the worker's greeting could not be read: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the fork server could not give a worker: {0}")]
    Forked(String),
}
