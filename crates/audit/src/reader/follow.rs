//! `FILE` as it grows (`tail -F` for records): a line is handed over once its newline is
//! there, and when `FILE` is rotated away (another file at the path) or truncated, the
//! follower finishes the old file and starts the new one from its first line.
//!
//! It polls: the caller asks for lines until there are none, sleeps, and asks again. A
//! follower that sleeps through two rotations misses the file between them (it is
//! `FILE.1` by then, read by the reader without following).

use std::fs::{self, File};
use std::io::{BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::lines::{Ending, LineBuffer};
use super::{read_error, Line};
use crate::AuditError;

#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    reader: BufReader<File>,
    /// Device and inode of the open file: another pair at the path means a rotation.
    identity: (u64, u64),
    line: LineBuffer,
    number: u64,
    /// The path holds a new file; the old one is being read to its end first, since the
    /// writer may have appended to it between our last read and its rename.
    draining: bool,
}

impl Follower {
    /// Follows `path` from its first line.
    pub fn open(path: &Path) -> Result<Follower, AuditError> {
        let (reader, identity) = open(path)?;
        Ok(Follower {
            path: path.to_path_buf(),
            reader,
            identity,
            line: LineBuffer::default(),
            number: 0,
            draining: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next complete line, or `None` when there is none yet (ask again later). A line
    /// still being written is held until its newline arrives; one left unfinished in a
    /// file that was rotated away comes out as [`super::Skip::Incomplete`].
    pub fn next_line(&mut self) -> Result<Option<Line>, AuditError> {
        loop {
            let ending = self
                .line
                .read(&mut self.reader)
                .map_err(|source| read_error(&self.path, source))?;
            if let Some(ending @ (Ending::Newline | Ending::TooLong)) = ending {
                self.number += 1;
                match self.line.take(self.number, ending) {
                    Some(line) => return Ok(Some(line)),
                    None => continue,
                }
            }
            // At the end of what the file holds now.
            if self.draining {
                let unfinished = self.unfinished();
                match open(&self.path) {
                    Ok((reader, identity)) => {
                        self.reader = reader;
                        self.identity = identity;
                        self.number = 0;
                        self.draining = false;
                    }
                    // Rotated again in between, or not created yet: try on the next call.
                    Err(AuditError::NotFound { .. }) if unfinished.is_none() => return Ok(None),
                    Err(AuditError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                match unfinished {
                    Some(line) => return Ok(Some(line)),
                    None => continue,
                }
            }
            match self.change()? {
                Change::None => return Ok(None),
                Change::Replaced => self.draining = true,
                Change::Truncated => {
                    let unfinished = self.unfinished();
                    self.reader
                        .seek(SeekFrom::Start(0))
                        .map_err(|source| read_error(&self.path, source))?;
                    self.number = 0;
                    if unfinished.is_some() {
                        return Ok(unfinished);
                    }
                }
            }
        }
    }

    /// A line the old file will never finish, as a line of its own.
    fn unfinished(&mut self) -> Option<Line> {
        if !self.line.has_partial() {
            return None;
        }
        self.number += 1;
        self.line.take(self.number, Ending::EndOfStream)
    }

    fn change(&mut self) -> Result<Change, AuditError> {
        let metadata = match fs::metadata(&self.path) {
            Ok(metadata) => metadata,
            // Between the rotation's rename and the fresh file: wait for it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Change::None),
            Err(source) => return Err(read_error(&self.path, source)),
        };
        if (metadata.dev(), metadata.ino()) != self.identity {
            return Ok(Change::Replaced);
        }
        let position = self
            .reader
            .stream_position()
            .map_err(|source| read_error(&self.path, source))?;
        Ok(if metadata.len() < position {
            Change::Truncated
        } else {
            Change::None
        })
    }
}

enum Change {
    None,
    Replaced,
    Truncated,
}

fn open(path: &Path) -> Result<(BufReader<File>, (u64, u64)), AuditError> {
    let file = File::open(path).map_err(|source| read_error(path, source))?;
    let metadata = file.metadata().map_err(|source| read_error(path, source))?;
    Ok((BufReader::new(file), (metadata.dev(), metadata.ino())))
}
