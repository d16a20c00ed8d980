//! The snippet's console output, kept within the log budget.
//!
//! Lines are rendered by [`crate::serialize::to_log_line`] into [`LogBuffer::room`], so a
//! line never costs more than what is left; once the budget is spent, entries are only
//! counted. This must never hold JavaScript values: it outlives the runtime.

use crate::output::{LogEntry, LogLevel};
use crate::serialize::Capped;

/// Ends an entry that was cut to fit.
const CUT: &str = "… [truncated]";

/// What one entry costs beyond its text (its level and its framing in a reply), so that a
/// flood of empty lines is bounded too. The gateway checks a worker's logs with the same sum.
pub const LOG_ENTRY_OVERHEAD: usize = 16;

/// Console output within a byte budget: what fits is kept, the rest is counted.
pub(crate) struct LogBuffer {
    entries: Vec<LogEntry>,
    left: usize,
    limit: usize,
    dropped: usize,
}

impl LogBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        LogBuffer {
            entries: Vec::new(),
            left: limit,
            limit,
            dropped: 0,
        }
    }

    /// Bytes the next line may take, leaving room for the mark of a cut.
    pub(crate) fn room(&self) -> usize {
        self.left.saturating_sub(CUT.len() + LOG_ENTRY_OVERHEAD)
    }

    /// Keeps a rendered line, cut if it grew past the room while it was rendered (a getter
    /// of a logged value may have logged in between). Returns whether more will fit.
    pub(crate) fn push(&mut self, level: LogLevel, line: Capped) -> bool {
        if self.left <= CUT.len() + LOG_ENTRY_OVERHEAD {
            return self.drop_entry();
        }
        let Capped {
            text: mut message,
            mut truncated,
        } = line;
        let room = self.room();
        if message.len() > room {
            let mut cut = room;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            truncated = true;
        }
        if truncated {
            message.push_str(CUT);
            self.left = 0;
        } else {
            self.left -= message.len() + LOG_ENTRY_OVERHEAD;
        }
        self.entries.push(LogEntry { level, message });
        self.left > CUT.len() + LOG_ENTRY_OVERHEAD
    }

    /// Counts an entry that did not fit. Returns `false`: nothing more will.
    pub(crate) fn drop_entry(&mut self) -> bool {
        self.left = 0;
        self.dropped += 1;
        false
    }

    pub(crate) fn finish(self) -> (Vec<LogEntry>, Vec<String>) {
        let mut notes = Vec::new();
        if self.left == 0 {
            notes.push(format!(
                "Console output reached the log limit of {} bytes; {} later entries were dropped.",
                self.limit, self.dropped
            ));
        }
        (self.entries, notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, truncated: bool) -> Capped {
        Capped {
            text: text.to_string(),
            truncated,
        }
    }

    #[test]
    fn empty_lines_are_not_free() {
        let mut logs = LogBuffer::new(1000);
        let mut kept = 0;
        while logs.push(LogLevel::Log, line("", false)) {
            kept += 1;
        }
        assert!(kept < 1000 / LOG_ENTRY_OVERHEAD, "{kept}");
    }

    #[test]
    fn the_budget_holds_marks_and_all() {
        let mut logs = LogBuffer::new(100);
        assert!(logs.push(LogLevel::Log, line("0123456789", false)));
        assert!(!logs.push(LogLevel::Log, line(&"é".repeat(40), false)));
        assert!(!logs.push(LogLevel::Log, line("more", false)));
        let (entries, notes) = logs.finish();
        let total: usize = entries
            .iter()
            .map(|e| e.message.len() + LOG_ENTRY_OVERHEAD)
            .sum();
        assert!(total <= 100, "{total}");
        assert!(entries[1].message.ends_with(CUT));
        assert!(notes[0].contains("1 later entries"), "{notes:?}");
    }
}
