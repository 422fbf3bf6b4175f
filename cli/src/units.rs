//! Parsing of human durations (`300`, `30s`, `5m`, `1h`, `2d`) and sizes (`64MiB`, `1G`).

/// Seconds in a duration such as `90`, `90s`, `5m`, `1h` or `2d`.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| format!("bad duration {text:?}"))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "bad duration unit {other:?} in {text:?} (use s, m, h or d)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("duration {text:?} too large"))
}

/// Milliseconds in a duration such as `50ms`, `2s` or `1m` (a bare number is milliseconds).
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    match t.strip_suffix("ms") {
        Some(ms) => ms
            .trim()
            .parse()
            .map_err(|_| format!("bad duration {text:?}")),
        None if t.chars().all(|c| c.is_ascii_digit()) => {
            t.parse().map_err(|_| format!("bad duration {text:?}"))
        }
        None => parse_duration(t)?
            .checked_mul(1000)
            .ok_or_else(|| format!("duration {text:?} too large")),
    }
}

/// Microseconds in a duration such as `50us`, `1ms` or `0` (a bare number is microseconds).
pub fn parse_duration_us(text: &str) -> Result<u64, String> {
    let t = text.trim();
    match t.strip_suffix("us").or_else(|| t.strip_suffix("µs")) {
        Some(us) => us
            .trim()
            .parse()
            .map_err(|_| format!("bad duration {text:?}")),
        None if t.chars().all(|c| c.is_ascii_digit()) => {
            t.parse().map_err(|_| format!("bad duration {text:?}"))
        }
        None => parse_duration_ms(t)?
            .checked_mul(1000)
            .ok_or_else(|| format!("duration {text:?} too large")),
    }
}

/// Bytes in a size such as `65536`, `64KiB`, `64MiB`, `1GiB` (`K`, `M`, `G` and `KB`… are
/// taken as powers of 1024 too).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("300"), Ok(300));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
        assert_eq!(parse_duration_ms("50ms"), Ok(50));
        assert_eq!(parse_duration_ms("2s"), Ok(2000));
        assert_eq!(parse_duration_ms("75"), Ok(75));
        assert_eq!(parse_duration_us("50us"), Ok(50));
        assert_eq!(parse_duration_us("0"), Ok(0));
        assert_eq!(parse_duration_us("2ms"), Ok(2000));
        assert!(parse_duration_us("fast").is_err());
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
    }
}
