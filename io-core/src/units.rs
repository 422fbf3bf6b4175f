//! The one parser of human durations and sizes every command line and config file of
//! Reprise uses: `500ms`, `30s`, `5m`, `1h`, `2d`, `50us` (or `50µs`), decimals such as `0.5s`;
//! a bare number counts in the unit its caller names (seconds for most options). Sizes:
//! `65536`, `64KiB`, `64MiB`, `1GiB` (`K`, `M`, `G` and `KB`… are powers of 1024 too).

use std::time::Duration;

/// The duration `text` names; a bare number counts in `bare` (e.g. `Duration::from_secs(1)`).
pub fn parse_duration(text: &str, bare: Duration) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 5m)"))?;
    let unit = match unit.trim() {
        "" => bare,
        "us" | "µs" => Duration::from_micros(1),
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" | "min" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        other => {
            return Err(format!(
                "{text:?}: unknown duration unit {other:?} (use us, ms, s, m, h or d)"
            ))
        }
    };
    Duration::try_from_secs_f64(n * unit.as_secs_f64())
        .map_err(|_| format!("{text:?}: too large a duration"))
}

/// Bytes in a size such as `65536`, `64KiB`, `64MiB` or `1GiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: usize = num.parse().map_err(|_| format!("bad size {text:?}"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("bad size unit {other:?} in {text:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {text:?} too large"))
}

/// [`parse_duration`] with bare numbers in seconds (a clap `value_parser`).
pub fn seconds(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_secs(1))
}

/// [`parse_duration`] with bare numbers in milliseconds (a clap `value_parser`).
pub fn millis(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_millis(1))
}

/// [`parse_duration`] with bare numbers in microseconds (a clap `value_parser`).
pub fn micros(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_micros(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_every_unit_and_bare_numbers_in_the_callers() {
        let s = Duration::from_secs;
        assert_eq!(seconds("300"), Ok(s(300)));
        assert_eq!(seconds("30s"), Ok(s(30)));
        assert_eq!(seconds(" 5m "), Ok(s(300)));
        assert_eq!(seconds("1h"), Ok(s(3600)));
        assert_eq!(seconds("2d"), Ok(s(172_800)));
        assert_eq!(seconds("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(millis("250"), Ok(Duration::from_millis(250)));
        assert_eq!(millis("2s"), Ok(s(2)));
        assert_eq!(micros("50"), Ok(Duration::from_micros(50)));
        assert_eq!(micros("50µs"), Ok(Duration::from_micros(50)));
        assert_eq!(seconds("1ms"), Ok(Duration::from_millis(1)));
        assert!(seconds("5 parsecs").is_err());
        assert!(seconds("").is_err());
        assert!(seconds("1e400s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("12 parsecs").is_err());
    }
}

/// A time as RFC 3339 in UTC with milliseconds, `2026-12-06T20:52:21.123Z`, from milliseconds
/// since the Unix epoch (proleptic Gregorian calendar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime(pub u64);

impl UtcTime {
    /// `YYYY-MM-DD` of the day.
    pub fn date(self) -> String {
        let (year, month, day) = civil_from_days(self.0 / 86_400_000);
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// (year, month, day) of a day counted from 1970-01-01.
fn civil_from_days(days: u64) -> (i64, i64, i64) {
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl std::fmt::Display for UtcTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (year, month, day) = civil_from_days(self.0 / 86_400_000);
        let in_day = self.0 % 86_400_000;
        let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
        let (second, milli) = (in_day / 1000 % 60, in_day % 1000);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z"
        )
    }
}

#[cfg(test)]
mod utc_tests {
    use super::UtcTime;

    #[test]
    fn utc_time_is_rfc_3339() {
        assert_eq!(UtcTime(0).to_string(), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(
            UtcTime(1_709_251_199_999).to_string(),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(UtcTime(1_709_251_200_000).date(), "2024-03-01");
    }
}
