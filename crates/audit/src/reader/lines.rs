//! Lines out of a byte stream, each bounded in size, and what each line turns out to be.

use std::io::{self, BufRead};

use crate::Record;

/// A line longer than this is skipped (the longest real record holds a snippet, and the
/// gateway takes no request line over 8 MiB): a file that is not an audit log at all must
/// not make the reader hold it whole.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One line of an audit file, as the reader found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Record {
        /// 1-based, in its file.
        number: u64,
        /// The line as written, without its newline (what `--json` prints).
        text: String,
        /// Boxed: a line is mostly moved from the reader to a filter, never kept.
        record: Box<Record>,
    },
    /// A line that is not a record; reading goes on after it.
    Skipped { number: u64, skip: Skip },
}

impl Line {
    pub fn number(&self) -> u64 {
        match self {
            Line::Record { number, .. } | Line::Skipped { number, .. } => *number,
        }
    }
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Cut short: the last line of a file whose writer was killed mid-record, or one whose
    /// write failed part-way (a full disk).
    Incomplete,
    /// Not JSON (or not UTF-8).
    NotJson,
    /// JSON, but not a record this reader knows; says why (an unknown `type`, a missing
    /// field).
    NotARecord(String),
    /// Longer than any record: the file is probably not an audit log.
    TooLong,
}

/// How a line read by [`LineBuffer::read`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Newline,
    /// The stream ended first: the line may still be growing (a file being written), or
    /// it was cut.
    EndOfStream,
    /// Past [`MAX_LINE_BYTES`]; its bytes were dropped up to the newline.
    TooLong,
}

/// The line being read. It stays across reads that end at the end of the stream, so a
/// follower can wait for the rest of a line that is still being written.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    bytes: Vec<u8>,
    /// The current line passed the limit; its bytes are being dropped.
    overflowed: bool,
}

impl LineBuffer {
    /// Reads up to the end of the current line, or of the stream. `None` when the stream
    /// ended with no byte of a new line read.
    pub(crate) fn read(&mut self, reader: &mut impl BufRead) -> io::Result<Option<Ending>> {
        loop {
            let available = match reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                // A line past the limit is still `TooLong` when taken: `take` knows.
                return Ok((!self.is_empty()).then_some(Ending::EndOfStream));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.map_or(available.len(), |at| at + 1)];
            if self.bytes.len() + chunk.len() > MAX_LINE_BYTES {
                self.overflowed = true;
                self.bytes.clear();
            }
            if !self.overflowed {
                self.bytes.extend_from_slice(chunk);
            }
            let consumed = chunk.len();
            reader.consume(consumed);
            if newline.is_some() {
                return Ok(Some(if self.overflowed {
                    Ending::TooLong
                } else {
                    Ending::Newline
                }));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && !self.overflowed
    }

    /// The line read so far, as line `number`; the buffer starts a new line. `None` for a
    /// blank line (the separator a failed write leaves), which is no record and no harm.
    pub(crate) fn take(&mut self, number: u64, ending: Ending) -> Option<Line> {
        let overflowed = std::mem::take(&mut self.overflowed);
        let mut bytes = std::mem::take(&mut self.bytes);
        if overflowed || ending == Ending::TooLong {
            return Some(Line::Skipped {
                number,
                skip: Skip::TooLong,
            });
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(parse(number, bytes, ending))
    }

    pub(crate) fn has_partial(&self) -> bool {
        !self.is_empty()
    }
}

fn parse(number: u64, bytes: Vec<u8>, ending: Ending) -> Line {
    let skipped = |skip| Line::Skipped { number, skip };
    let cut = ending == Ending::EndOfStream;
    let Ok(text) = String::from_utf8(bytes) else {
        return skipped(if cut { Skip::Incomplete } else { Skip::NotJson });
    };
    match serde_json::from_str::<Record>(&text) {
        Ok(record) => Line::Record {
            number,
            text,
            record: Box::new(record),
        },
        // A line without its newline that does not parse was cut, whatever the parser says.
        Err(_) if cut => skipped(Skip::Incomplete),
        Err(e) => skipped(match e.classify() {
            serde_json::error::Category::Eof => Skip::Incomplete,
            serde_json::error::Category::Data => Skip::NotARecord(e.to_string()),
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => Skip::NotJson,
        }),
    }
}
