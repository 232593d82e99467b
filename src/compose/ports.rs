//! Compose `ports:` (short and long syntax) → one [`PortBinding`] per published port.
//!
//! Short syntax: `[[host_ip:][host_port[-end]]:]container_port[-end][/protocol]`, IPv6 host
//! addresses in brackets. Ranges are expanded (a host range mapped to one container port keeps
//! the range's first port); the total per service is capped at [`MAX_PORTS`].

use serde_json::Value;

use crate::model::PortBinding;

/// Most port bindings one service may expand to.
pub const MAX_PORTS: usize = 65_536;

/// Parses every item of `ports:`; `Err((index, message))` names the offending item.
pub fn parse_ports(items: &[Value]) -> Result<Vec<PortBinding>, (usize, String)> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let more = match item {
            Value::String(s) => parse_short(s),
            Value::Number(n) => match n.as_u64().and_then(|p| u16::try_from(p).ok()) {
                Some(p) if p > 0 => Ok(vec![binding("", None, p, "tcp")]),
                _ => Err(format!("{n} is not a port number (1-65535)")),
            },
            Value::Object(m) => parse_long(m),
            other => Err(format!("{other} is not a port specification")),
        }
        .map_err(|e| (i, e))?;
        out.extend(more);
        if out.len() > MAX_PORTS {
            return Err((
                i,
                format!("more than {MAX_PORTS} ports after expanding ranges"),
            ));
        }
    }
    Ok(out)
}

fn binding(ip: &str, host: Option<u16>, container: u16, proto: &str) -> PortBinding {
    PortBinding {
        host_ip: ip.to_string(),
        host_port: host,
        container_port: container,
        protocol: proto.to_ascii_lowercase(),
    }
}

fn parse_short(spec: &str) -> Result<Vec<PortBinding>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    check_proto(proto)?;
    let (ip, rest) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("{spec:?}: unclosed `[` in the host address"))?;
        let tail = tail
            .strip_prefix(':')
            .ok_or_else(|| format!("{spec:?}: expected `:` after the host address"))?;
        (ip.to_string(), tail)
    } else {
        (String::new(), rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (ip, "", *c),
        [h, c] => (ip, *h, *c),
        [i, h, c] if ip.is_empty() => (i.to_string(), *h, *c),
        _ => {
            return Err(format!(
                "{spec:?}: expected [[host_ip:][host_port:]]container_port[/protocol]"
            ));
        }
    };
    expand(spec, &ip, host, container, proto)
}

fn parse_long(m: &serde_json::Map<String, Value>) -> Result<Vec<PortBinding>, String> {
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(other) => Err(format!("`{k}`: {other} is not a string or number")),
    };
    let target = text("target")?;
    if target.is_empty() {
        return Err("`target` (the container port) is required".into());
    }
    let proto = match text("protocol")? {
        p if p.is_empty() => "tcp".to_string(),
        p => p,
    };
    check_proto(&proto)?;
    let spec = format!("{m:?}");
    expand(
        &spec,
        &text("host_ip")?,
        &text("published")?,
        &target,
        &proto,
    )
}

fn check_proto(proto: &str) -> Result<(), String> {
    match proto.to_ascii_lowercase().as_str() {
        "tcp" | "udp" | "sctp" => Ok(()),
        _ => Err(format!("protocol {proto:?} is not tcp, udp or sctp")),
    }
}

fn range(spec: &str, s: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| match p.trim().parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{spec}: {p:?} is not a port number (1-65535)")),
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(format!("{spec}: range {s:?} ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

fn expand(
    spec: &str,
    ip: &str,
    host: &str,
    container: &str,
    proto: &str,
) -> Result<Vec<PortBinding>, String> {
    let (c0, c1) = range(spec, container)?;
    let count = usize::from(c1 - c0) + 1;
    if host.is_empty() {
        return Ok((c0..=c1).map(|c| binding(ip, None, c, proto)).collect());
    }
    let (h0, h1) = range(spec, host)?;
    let hcount = usize::from(h1 - h0) + 1;
    if count == 1 {
        return Ok(vec![binding(ip, Some(h0), c0, proto)]);
    }
    if hcount != count {
        return Err(format!(
            "{spec}: host range and container range differ in length"
        ));
    }
    Ok((0..=(c1 - c0))
        .map(|k| binding(ip, Some(h0 + k), c0 + k, proto))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn short_and_long_syntax() {
        let p = parse_ports(&[
            json!("80"),
            json!("8080:80"),
            json!("127.0.0.1:5432:5432/udp"),
            json!("[::1]:53:53"),
            json!("9000-9002:9000-9002"),
            json!(443),
            json!({"target": 80, "published": "8081", "host_ip": "10.0.0.1", "protocol": "tcp"}),
        ])
        .unwrap();
        assert_eq!(p.len(), 9);
        assert_eq!(p[0], binding("", None, 80, "tcp"));
        assert_eq!(p[1], binding("", Some(8080), 80, "tcp"));
        assert_eq!(p[2], binding("127.0.0.1", Some(5432), 5432, "udp"));
        assert_eq!(p[3], binding("::1", Some(53), 53, "tcp"));
        assert_eq!(p[6], binding("", Some(9002), 9002, "tcp"));
        assert_eq!(p[8], binding("10.0.0.1", Some(8081), 80, "tcp"));
        assert_eq!(
            parse_ports(&[json!("1-65535:1-65535")]).unwrap().len(),
            65535
        );
        assert!(parse_ports(&[json!("1-65535"), json!("1-65535")]).is_err());
        assert_eq!(parse_ports(&[json!("0")]).unwrap_err().0, 0);
        assert!(parse_ports(&[json!("80/icmp")]).is_err());
        assert!(parse_ports(&[json!("9000-9001:80-82")]).is_err());
    }
}
