//! Byte sizes and durations as Compose parses them.
//!
//! Sizes follow docker-py's `parse_bytes` (what docker-compose 1.29 calls): a number, then
//! optionally `b`, `k`, `m` or `g` (case-insensitive, base 1024), optionally followed by `b`
//! (`512mb`); a fractional number is allowed and truncated after scaling (`1.5g`). Durations
//! follow compose's `timeparse`: `[h][m][s][ms][us][ns]` components in that order (`1m30s`,
//! `1.5s`, `500ms`), converted to nanoseconds.

/// Parses a byte size; `None` when it is not one.
pub fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    let lower = s.to_ascii_lowercase();
    let mut body = lower.as_str();
    let b = body.as_bytes();
    if b.len() >= 2 && b[b.len() - 1] == b'b' && b[b.len() - 2].is_ascii_alphabetic() {
        body = &body[..body.len() - 1];
    }
    let (digits, unit): (&str, i64) = match body.as_bytes().last()? {
        b'b' => (&body[..body.len() - 1], 1),
        b'k' => (&body[..body.len() - 1], 1 << 10),
        b'm' => (&body[..body.len() - 1], 1 << 20),
        b'g' => (&body[..body.len() - 1], 1 << 30),
        c if c.is_ascii_digit() => (body, 1),
        _ => return None,
    };
    if digits.is_empty()
        || !digits
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return None;
    }
    if let Ok(i) = digits.parse::<i64>() {
        return i.checked_mul(unit);
    }
    let f: f64 = digits.parse().ok()?;
    let v = (f * unit as f64).trunc();
    (v.is_finite() && v.abs() < 9.2e18).then_some(v as i64)
}

/// Parses a duration into nanoseconds; `None` when it is not one.
pub fn parse_duration_ns(s: &str) -> Option<i64> {
    const UNITS: [(&str, f64); 6] = [
        ("h", 3.6e12),
        ("m", 6e10),
        ("s", 1e9),
        ("ms", 1e6),
        ("us", 1e3),
        ("ns", 1.0),
    ];
    let s = s.trim().to_ascii_lowercase().replace("µs", "us");
    if s.is_empty() {
        return None;
    }
    let mut rest = s.as_str();
    let mut next_unit = 0;
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 {
            return None;
        }
        let number: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if idx < next_unit {
            return None;
        }
        next_unit = idx + 1;
        total += number * UNITS[idx].1;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total < 9.2e18).then_some(total.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_as_docker_py_parses_them() {
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("512mb"), Some(512 << 20));
        assert_eq!(parse_bytes("512MB"), Some(512 << 20));
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("1gb"), Some(1 << 30));
        assert_eq!(parse_bytes("2k"), Some(2048));
        assert_eq!(parse_bytes("2kb"), Some(2048));
        assert_eq!(parse_bytes("100b"), Some(100));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("1.5g"), Some(1_610_612_736));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("12t"), None);
        assert_eq!(parse_bytes("g"), None);
    }

    #[test]
    fn durations_as_compose_parses_them() {
        assert_eq!(parse_duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration_ns("10s"), Some(10_000_000_000));
        assert_eq!(parse_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("500ms"), Some(500_000_000));
        assert_eq!(
            parse_duration_ns("1h2m3s4ms5us6ns"),
            Some(3_723_004_005_006)
        );
        assert_eq!(parse_duration_ns("30s1m"), None);
        assert_eq!(parse_duration_ns("10"), None);
        assert_eq!(parse_duration_ns("abc"), None);
    }
}
