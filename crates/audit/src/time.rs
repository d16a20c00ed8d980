//! Record times: RFC 3339 in UTC to the millisecond (`2026-12-02T16:30:01.123Z`), so lines
//! sort as text and read the same on every machine.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::AuditError;

/// A point in time, kept to the millisecond (what the log writes, so a record read back
/// compares equal to the one written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    pub fn system_time(self) -> SystemTime {
        self.0
    }
}

impl From<SystemTime> for Timestamp {
    /// Drops what is below a millisecond. A time before 1970 becomes 1970.
    fn from(time: SystemTime) -> Timestamp {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let millis = since_epoch.as_millis();
        let truncated = Duration::from_secs(since_epoch.as_secs())
            + Duration::from_millis(u64::try_from(millis % 1000).unwrap_or(0));
        Timestamp(UNIX_EPOCH + truncated)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.0))
    }
}

/// Not a valid RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 time: {0:?}")]
pub struct InvalidTime(String);

impl FromStr for Timestamp {
    type Err = InvalidTime;

    /// RFC 3339 with `Z` or a numeric offset (`+02:00`), any fraction of a second.
    fn from_str(text: &str) -> Result<Timestamp, InvalidTime> {
        let invalid = || InvalidTime(text.to_string());
        // humantime reads UTC only: take a numeric offset off and apply it ourselves.
        let (utc_text, offset) = split_offset(text).ok_or_else(invalid)?;
        if utc_text.as_bytes().get(10) != Some(&b'T') {
            return Err(invalid());
        }
        let local = humantime::parse_rfc3339_weak(utc_text).map_err(|_| invalid())?;
        let time = match offset {
            Offset::East(by) => local.checked_sub(by),
            Offset::West(by) => local.checked_add(by),
        };
        time.map(Timestamp::from).ok_or_else(invalid)
    }
}

enum Offset {
    East(Duration),
    West(Duration),
}

/// `2026-12-02T17:30:00+01:00` → (`2026-12-02T17:30:00`, east 1 h); `…Z` → (`…`, 0).
fn split_offset(text: &str) -> Option<(&str, Offset)> {
    if let Some(utc) = text.strip_suffix(['Z', 'z']) {
        return Some((utc, Offset::East(Duration::ZERO)));
    }
    let split = text.len().checked_sub(6)?;
    let (time, offset) = (text.get(..split)?, text.get(split..)?);
    let bytes = offset.as_bytes();
    if bytes[3] != b':' {
        return None;
    }
    let hours: u64 = offset.get(1..3)?.parse().ok()?;
    let minutes: u64 = offset.get(4..6)?.parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let by = Duration::from_secs(hours * 3600 + minutes * 60);
    match bytes[0] {
        b'+' => Some((time, Offset::East(by))),
        b'-' => Some((time, Offset::West(by))),
        _ => None,
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What `--since` means: a duration back from `now` (`10m`, `2h`, `1d`, `1h30m`), or a time
/// (RFC 3339, `2026-12-02T16:30:00Z`).
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, AuditError> {
    let text = text.trim();
    if let Ok(time) = text.parse::<Timestamp>() {
        return Ok(time.system_time());
    }
    let back = humantime::parse_duration(text).map_err(|_| AuditError::InvalidSince {
        text: text.to_string(),
    })?;
    // No record is older than 1970: a longer look back means everything.
    Ok(now
        .checked_sub(back)
        .map_or(UNIX_EPOCH, |since| since.max(UNIX_EPOCH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_utc_with_milliseconds() {
        let time = UNIX_EPOCH + Duration::from_nanos(1_796_229_001_123_456_789);
        assert_eq!(
            Timestamp::from(time).to_string(),
            "2026-12-02T16:30:01.123Z"
        );
    }

    #[test]
    fn reads_offsets_as_the_same_instant() {
        let utc: Timestamp = "2026-12-02T16:30:00Z".parse().expect("utc");
        let east: Timestamp = "2026-12-02T17:30:00+01:00".parse().expect("east");
        let west: Timestamp = "2026-12-02T14:00:00.000-02:30".parse().expect("west");
        assert_eq!(utc, east);
        assert_eq!(utc, west);
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in [
            "",
            "yesterday",
            "2026-12-02",
            "2026-12-02 16:30:00Z",
            "2026-12-02T16:30:00+1:00",
            "2026-12-02T16:30:00é",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn since_takes_durations_back_from_now() {
        let now = UNIX_EPOCH + Duration::from_secs(100_000);
        let ago = |text| parse_since(text, now).expect(text);
        assert_eq!(ago("10m"), now - Duration::from_secs(600));
        assert_eq!(ago("1d"), now - Duration::from_secs(86_400));
        assert_eq!(ago("1000d"), UNIX_EPOCH);
        assert_eq!(
            ago("1970-01-01T00:00:10Z"),
            UNIX_EPOCH + Duration::from_secs(10)
        );
        assert!(parse_since("soon", now).is_err());
    }
}
