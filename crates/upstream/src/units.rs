//! Durations (`500ms`, `30s`, `1m30s`) and sizes (`256MiB`, `64KiB`, `1GB`, `1048576`) as
//! operators write them, in the config's `codemode.limits` and in the CLI's flags.
//!
//! Both parsers refuse zero and absurd values: a limit of nothing, or of more than a machine
//! has, is a typo rather than a wish. Their messages are written to follow a flag or field name
//! (`codemode: --wall-time: <message>`).

use std::time::Duration;

/// The shortest duration limit accepted.
const MIN_DURATION: Duration = Duration::from_millis(1);
/// The longest duration limit accepted.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest size limit accepted (1 TiB).
const MAX_SIZE: u64 = 1 << 40;

const DURATION_EXAMPLES: &str = "such as 500ms, 30s, 2m or 1m30s";
const SIZE_EXAMPLES: &str = "such as 256MiB, 64KiB, 1GB or 1048576 (bytes)";

/// Parses a duration limit such as `500ms`, `30s`, `2m` or `1m30s` (a number needs its unit).
///
/// Zero, less than 1ms and more than 24h are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("expected a duration, {DURATION_EXAMPLES}"));
    }
    let duration = humantime::parse_duration(trimmed).map_err(|err| match err {
        humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
            format!("invalid duration {trimmed:?}: a number needs a unit, {DURATION_EXAMPLES}")
        }
        humantime::DurationError::NumberOverflow => {
            format!("invalid duration {trimmed:?}: too long (at most 24h)")
        }
        _ => format!(
            "invalid duration {trimmed:?}: expected a number and a unit, {DURATION_EXAMPLES}"
        ),
    })?;
    if duration.is_zero() {
        Err("must be more than zero".to_owned())
    } else if duration < MIN_DURATION {
        Err(format!("{trimmed:?} is too short: at least 1ms"))
    } else if duration > MAX_DURATION {
        Err(format!("{trimmed:?} is too long: at most 24h"))
    } else {
        Ok(duration)
    }
}

/// Parses a size limit in bytes: `256MiB`, `64KiB`, `1GB`, `1.5GiB` or a plain number of bytes
/// such as `1048576`. `KiB`/`MiB`/`GiB` are powers of 1024, `KB`/`MB`/`GB` powers of 1000.
///
/// Zero and more than 1TiB are refused.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("expected a size, {SIZE_EXAMPLES}"));
    }
    // bytesize takes a leading number (digits and `.`) and an optional unit; anything else
    // (a sign, an exponent, a second number) is not a size.
    let bytes = trimmed
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("invalid size {trimmed:?}: expected a number of bytes or a number and a unit, {SIZE_EXAMPLES}"))?
        .as_u64();
    check_size(trimmed, bytes)
}

/// The same bounds for a size given as a JSON integer of bytes.
pub(crate) fn check_size_bytes(bytes: u64) -> Result<u64, String> {
    check_size(&bytes.to_string(), bytes)
}

fn check_size(text: &str, bytes: u64) -> Result<u64, String> {
    if bytes == 0 {
        Err("must be more than zero".to_owned())
    } else if bytes > MAX_SIZE {
        Err(format!("{text:?} is too large: at most 1TiB"))
    } else {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("1ms"), Ok(MIN_DURATION));
    }

    #[test]
    fn bad_durations() {
        for (text, message) in [
            ("", "expected a duration, such as 500ms, 30s, 2m or 1m30s"),
            (
                "10",
                r#"invalid duration "10": a number needs a unit, such as 500ms, 30s, 2m or 1m30s"#,
            ),
            (
                "-5s",
                r#"invalid duration "-5s": expected a number and a unit, such as 500ms, 30s, 2m or 1m30s"#,
            ),
            (
                "5 parsecs",
                r#"invalid duration "5 parsecs": expected a number and a unit, such as 500ms, 30s, 2m or 1m30s"#,
            ),
            ("0", "must be more than zero"),
            ("0s", "must be more than zero"),
            ("10us", r#""10us" is too short: at least 1ms"#),
            ("25h", r#""25h" is too long: at most 24h"#),
            (
                "99999999999999999999999s",
                r#"invalid duration "99999999999999999999999s": too long (at most 24h)"#,
            ),
        ] {
            assert_eq!(parse_duration(text), Err(message.to_owned()), "{text}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size(" 2 mib "), Ok(2 << 20));
        assert_eq!(parse_size("1TiB"), Ok(MAX_SIZE));
        assert_eq!(check_size_bytes(4096), Ok(4096));
    }

    #[test]
    fn bad_sizes() {
        let shape = "expected a number of bytes or a number and a unit, such as 256MiB, 64KiB, 1GB or 1048576 (bytes)";
        for (text, message) in [
            (
                "",
                "expected a size, such as 256MiB, 64KiB, 1GB or 1048576 (bytes)".to_owned(),
            ),
            ("lots", format!(r#"invalid size "lots": {shape}"#)),
            ("-1MiB", format!(r#"invalid size "-1MiB": {shape}"#)),
            (
                "12 parsecs",
                format!(r#"invalid size "12 parsecs": {shape}"#),
            ),
            ("1e6", format!(r#"invalid size "1e6": {shape}"#)),
            ("0", "must be more than zero".to_owned()),
            ("0KiB", "must be more than zero".to_owned()),
            ("0.1B", "must be more than zero".to_owned()),
            ("2TiB", r#""2TiB" is too large: at most 1TiB"#.to_owned()),
            (
                "20000EiB",
                r#""20000EiB" is too large: at most 1TiB"#.to_owned(),
            ),
        ] {
            assert_eq!(parse_size(text), Err(message), "{text}");
        }
        assert_eq!(
            check_size_bytes(0),
            Err("must be more than zero".to_owned())
        );
    }
}
