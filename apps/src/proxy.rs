//! The PROXY protocol header a backend stream sends first, so the backend learns the client's
//! address and what the TLS handshake settled on (HAProxy's "PROXY protocol", versions 1 and
//! 2, <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>).
//!
//! Version 2 carries, after the addresses, these TLVs: `PP2_TYPE_ALPN` (0x01) with the
//! negotiated protocol, `PP2_TYPE_AUTHORITY` (0x02) with the SNI host name, `PP2_TYPE_SSL`
//! (0x20) with the TLS version and cipher sub-TLVs, and one of Reprise's own from the range
//! reserved for applications: [`PP2_TYPE_REPRISE_RESUMPTION`] (0xE0), saying whether and how
//! the handshake resumed (`full`, `session-id`, `ticket`), and when an offered resumption was
//! declined, why (`full; declined: expired`). With a verified client certificate, the
//! `PP2_TYPE_SSL` client bits say so (`PP2_CLIENT_CERT_CONN`, `PP2_CLIENT_CERT_SESS`, verify
//! 0), `PP2_SUBTYPE_SSL_CN` carries its common name, and Reprise's
//! [`PP2_TYPE_REPRISE_CLIENT_SHA256`] (0xE1) the SHA-256 of the leaf.

use std::net::SocketAddr;

use reprise::{Negotiated, ResumptionFailure};

/// Which PROXY protocol version to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The human-readable line (`PROXY TCP4 …\r\n`).
    V1,
    /// The binary header, with TLS TLVs.
    V2,
}

impl std::str::FromStr for ProxyVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v1" | "1" => Ok(ProxyVersion::V1),
            "v2" | "2" => Ok(ProxyVersion::V2),
            other => Err(format!("PROXY protocol version is v1 or v2, not {other:?}")),
        }
    }
}

/// The 12-byte signature that starts a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// `PP2_TYPE_ALPN`.
pub const PP2_TYPE_ALPN: u8 = 0x01;
/// `PP2_TYPE_AUTHORITY`.
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_SSL`.
pub const PP2_TYPE_SSL: u8 = 0x20;
/// `PP2_SUBTYPE_SSL_VERSION`.
pub const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
/// `PP2_SUBTYPE_SSL_CIPHER`.
pub const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
/// `PP2_SUBTYPE_SSL_CN`: the client certificate's common name.
pub const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
/// `PP2_CLIENT_SSL`: the client connected over TLS.
pub const PP2_CLIENT_SSL: u8 = 0x01;
/// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
pub const PP2_CLIENT_CERT_CONN: u8 = 0x02;
/// `PP2_CLIENT_CERT_SESS`: the client presented a certificate at least once in the TLS
/// session this connection belongs to.
pub const PP2_CLIENT_CERT_SESS: u8 = 0x04;
/// Reprise's TLV (from the application range 0xE0-0xEF): how the handshake resumed.
pub const PP2_TYPE_REPRISE_RESUMPTION: u8 = 0xE0;
/// Reprise's TLV: the SHA-256 of the client's verified leaf certificate (32 bytes).
pub const PP2_TYPE_REPRISE_CLIENT_SHA256: u8 = 0xE1;

/// What the header tells about the TLS side.
#[derive(Clone, Copy, Debug)]
pub struct TlsFacts<'a> {
    /// What the handshake negotiated.
    pub negotiated: &'a Negotiated,
    /// Why an offered resumption did not happen, if one was offered and declined.
    pub resumption_failure: Option<ResumptionFailure>,
    /// The client's verified certificate chain (leaf first), when it sent one on this
    /// connection (a full handshake).
    pub client_certificates: Option<&'a [Vec<u8>]>,
    /// Who the client's certificate says it is: from this connection's certificate, or
    /// kept with the session it resumed.
    pub client_identity: Option<&'a reprise::ClientIdentity>,
}

/// The value of [`PP2_TYPE_REPRISE_RESUMPTION`].
pub fn resumption_value(facts: &TlsFacts<'_>) -> String {
    match (facts.negotiated.resumed, facts.resumption_failure) {
        (Some(kind), _) => kind.to_string(),
        (None, Some(reason)) => format!("full; declined: {reason}"),
        (None, None) => "full".into(),
    }
}

/// The header for a connection from `peer` to `local` (`None` when unknown: version 1 then
/// says `UNKNOWN`, version 2 sends a `LOCAL` header with the TLVs only).
pub fn header(
    version: ProxyVersion,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    facts: &TlsFacts<'_>,
) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => v1(peer, local).into_bytes(),
        ProxyVersion::V2 => v2(peer, local, facts),
    }
}

fn v1(peer: Option<SocketAddr>, local: Option<SocketAddr>) -> String {
    match (peer, local) {
        (Some(SocketAddr::V4(p)), Some(SocketAddr::V4(l))) => format!(
            "PROXY TCP4 {} {} {} {}\r\n",
            p.ip(),
            l.ip(),
            p.port(),
            l.port()
        ),
        (Some(SocketAddr::V6(p)), Some(SocketAddr::V6(l))) => format!(
            "PROXY TCP6 {} {} {} {}\r\n",
            p.ip(),
            l.ip(),
            p.port(),
            l.port()
        ),
        _ => "PROXY UNKNOWN\r\n".into(),
    }
}

fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&(value.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&value[..value.len().min(u16::MAX as usize)]);
}

fn v2(peer: Option<SocketAddr>, local: Option<SocketAddr>, facts: &TlsFacts<'_>) -> Vec<u8> {
    let mut addresses = Vec::with_capacity(36);
    // Version 2 (high nibble), command PROXY (1) or LOCAL (0); family and protocol.
    let (command, family) = match (peer, local) {
        (Some(SocketAddr::V4(p)), Some(SocketAddr::V4(l))) => {
            addresses.extend_from_slice(&p.ip().octets());
            addresses.extend_from_slice(&l.ip().octets());
            addresses.extend_from_slice(&p.port().to_be_bytes());
            addresses.extend_from_slice(&l.port().to_be_bytes());
            (0x21, 0x11)
        }
        (Some(SocketAddr::V6(p)), Some(SocketAddr::V6(l))) => {
            addresses.extend_from_slice(&p.ip().octets());
            addresses.extend_from_slice(&l.ip().octets());
            addresses.extend_from_slice(&p.port().to_be_bytes());
            addresses.extend_from_slice(&l.port().to_be_bytes());
            (0x21, 0x21)
        }
        _ => (0x20, 0x00),
    };
    let mut tlvs = Vec::with_capacity(96);
    let negotiated = facts.negotiated;
    if let Some(alpn) = negotiated.alpn() {
        tlv(&mut tlvs, PP2_TYPE_ALPN, alpn);
    }
    if let Some(name) = &negotiated.server_name {
        tlv(&mut tlvs, PP2_TYPE_AUTHORITY, name.as_bytes());
    }
    let identity = facts.client_identity;
    // `client`: the bits that apply; `verify`: 0 for a verified client certificate (the
    // engine lets in no other), non-zero without one.
    let (client, verify) = match identity {
        Some(_) => {
            // The session has a certificate; this connection sent it only when it was
            // a full handshake.
            let conn = if facts.client_certificates.is_some() {
                PP2_CLIENT_CERT_CONN
            } else {
                0
            };
            (PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS | conn, 0u32)
        }
        None => (PP2_CLIENT_SSL, 1),
    };
    let mut ssl = vec![client];
    ssl.extend_from_slice(&verify.to_be_bytes());
    tlv(&mut ssl, PP2_SUBTYPE_SSL_VERSION, b"TLSv1.2");
    if let Some(cn) = identity.and_then(reprise::ClientIdentity::common_name) {
        tlv(&mut ssl, PP2_SUBTYPE_SSL_CN, cn.as_bytes());
    }
    if let Some(suite) = negotiated.suite {
        tlv(
            &mut ssl,
            PP2_SUBTYPE_SSL_CIPHER,
            suite.openssl_name.as_bytes(),
        );
    }
    tlv(&mut tlvs, PP2_TYPE_SSL, &ssl);
    tlv(
        &mut tlvs,
        PP2_TYPE_REPRISE_RESUMPTION,
        resumption_value(facts).as_bytes(),
    );
    if let Some(identity) = identity {
        tlv(
            &mut tlvs,
            PP2_TYPE_REPRISE_CLIENT_SHA256,
            identity.certificate_sha256(),
        );
    }
    let mut out = Vec::with_capacity(16 + addresses.len() + tlvs.len());
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(command);
    out.push(family);
    out.extend_from_slice(&((addresses.len() + tlvs.len()) as u16).to_be_bytes());
    out.extend_from_slice(&addresses);
    out.extend_from_slice(&tlvs);
    out
}

/// A parsed version 2 header (what a backend reads), for tests and tools.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedV2 {
    /// The client's address, for a PROXY command over TCP.
    pub source: Option<SocketAddr>,
    /// The address the client connected to.
    pub destination: Option<SocketAddr>,
    /// Every top-level TLV, in order.
    pub tlvs: Vec<(u8, Vec<u8>)>,
    /// The header's length in bytes.
    pub len: usize,
}

impl ParsedV2 {
    /// The value of the first TLV of `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of sub-TLV `kind` inside `PP2_TYPE_SSL`.
    pub fn ssl_sub_tlv(&self, kind: u8) -> Option<&[u8]> {
        let ssl = self.tlv(PP2_TYPE_SSL)?;
        let mut rest = ssl.get(5..)?;
        while rest.len() >= 3 {
            let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
            let value = rest.get(3..3 + len)?;
            if rest[0] == kind {
                return Some(value);
            }
            rest = &rest[3 + len..];
        }
        None
    }
}

/// Parses a version 2 header at the front of `data` (`None` if it is not one, or not whole).
pub fn parse_v2(data: &[u8]) -> Option<ParsedV2> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    if data.get(..12)? != V2_SIGNATURE {
        return None;
    }
    let (command, family) = (*data.get(12)?, *data.get(13)?);
    let len = usize::from(u16::from_be_bytes([*data.get(14)?, *data.get(15)?]));
    let body = data.get(16..16 + len)?;
    let mut parsed = ParsedV2 {
        len: 16 + len,
        ..ParsedV2::default()
    };
    let skip = match (command, family) {
        (0x21, 0x11) => {
            let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            let a = body.get(..12)?;
            parsed.source = Some(SocketAddr::new(ip(&a[0..4]).into(), port(&a[8..10])));
            parsed.destination = Some(SocketAddr::new(ip(&a[4..8]).into(), port(&a[10..12])));
            12
        }
        (0x21, 0x21) => {
            let a = body.get(..36)?;
            let ip = |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or([0; 16]));
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            parsed.source = Some(SocketAddr::new(ip(&a[0..16]).into(), port(&a[32..34])));
            parsed.destination = Some(SocketAddr::new(ip(&a[16..32]).into(), port(&a[34..36])));
            36
        }
        (0x20, _) => 0,
        _ => return None,
    };
    let mut rest = body.get(skip..)?;
    while rest.len() >= 3 {
        let n = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        parsed.tlvs.push((rest[0], rest.get(3..3 + n)?.to_vec()));
        rest = &rest[3 + n..];
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise::suites::suite_by_name;
    use reprise::{HostName, ResumptionKind};

    fn negotiated() -> Negotiated {
        let mut n = Negotiated::default();
        n.suite = suite_by_name("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        n.set_alpn(Some(b"http/1.1"));
        n.server_name = Some(HostName::from("www.example.com"));
        n.resumed = Some(ResumptionKind::Ticket);
        n
    }

    #[test]
    fn version_1_is_one_line() {
        let n = negotiated();
        let facts = TlsFacts {
            negotiated: &n,
            resumption_failure: None,
            client_certificates: None,
            client_identity: None,
        };
        let peer = "192.0.2.1:56324".parse().ok();
        let local = "198.51.100.7:443".parse().ok();
        assert_eq!(
            header(ProxyVersion::V1, peer, local, &facts),
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
        );
        let peer6 = "[2001:db8::1]:4000".parse().ok();
        let local6 = "[2001:db8::2]:443".parse().ok();
        assert_eq!(
            header(ProxyVersion::V1, peer6, local6, &facts),
            b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n"
        );
        assert_eq!(
            header(ProxyVersion::V1, None, local, &facts),
            b"PROXY UNKNOWN\r\n"
        );
    }

    #[test]
    fn version_2_carries_addresses_and_the_tls_tlvs() {
        let n = negotiated();
        let facts = TlsFacts {
            negotiated: &n,
            resumption_failure: None,
            client_certificates: None,
            client_identity: None,
        };
        let peer: SocketAddr = "192.0.2.1:56324".parse().unwrap();
        let local: SocketAddr = "198.51.100.7:443".parse().unwrap();
        let bytes = header(ProxyVersion::V2, Some(peer), Some(local), &facts);
        assert_eq!(&bytes[..12], &V2_SIGNATURE);
        assert_eq!(bytes[12], 0x21, "version 2, PROXY");
        assert_eq!(bytes[13], 0x11, "TCP over IPv4");
        let parsed = parse_v2(&bytes).unwrap();
        assert_eq!(parsed.len, bytes.len());
        assert_eq!(parsed.source, Some(peer));
        assert_eq!(parsed.destination, Some(local));
        assert_eq!(parsed.tlv(PP2_TYPE_ALPN), Some(&b"http/1.1"[..]));
        assert_eq!(
            parsed.tlv(PP2_TYPE_AUTHORITY),
            Some(&b"www.example.com"[..])
        );
        assert_eq!(parsed.tlv(PP2_TYPE_SSL).unwrap()[0], PP2_CLIENT_SSL);
        assert_eq!(
            parsed.ssl_sub_tlv(PP2_SUBTYPE_SSL_VERSION),
            Some(&b"TLSv1.2"[..])
        );
        assert_eq!(
            parsed.ssl_sub_tlv(PP2_SUBTYPE_SSL_CIPHER),
            Some(&b"ECDHE-ECDSA-AES128-GCM-SHA256"[..])
        );
        assert_eq!(
            parsed.tlv(PP2_TYPE_REPRISE_RESUMPTION),
            Some(&b"ticket"[..])
        );
        // IPv6, and no addresses (LOCAL).
        let peer6: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let local6: SocketAddr = "[2001:db8::2]:443".parse().unwrap();
        let parsed =
            parse_v2(&header(ProxyVersion::V2, Some(peer6), Some(local6), &facts)).unwrap();
        assert_eq!(
            (parsed.source, parsed.destination),
            (Some(peer6), Some(local6))
        );
        let local_only = header(ProxyVersion::V2, None, None, &facts);
        assert_eq!(local_only[12], 0x20, "LOCAL");
        assert_eq!(parse_v2(&local_only).unwrap().source, None);
    }

    #[test]
    fn the_resumption_tlv_says_why_a_resumption_was_declined() {
        let mut n = negotiated();
        n.resumed = None;
        let declined = TlsFacts {
            negotiated: &n,
            resumption_failure: Some(ResumptionFailure::Expired),
            client_certificates: None,
            client_identity: None,
        };
        assert_eq!(resumption_value(&declined), "full; declined: expired");
        let plain = TlsFacts {
            negotiated: &n,
            resumption_failure: None,
            client_certificates: None,
            client_identity: None,
        };
        assert_eq!(resumption_value(&plain), "full");
        n.resumed = Some(ResumptionKind::SessionId);
        let resumed = TlsFacts {
            negotiated: &n,
            resumption_failure: None,
            client_certificates: None,
            client_identity: None,
        };
        assert_eq!(resumption_value(&resumed), "session-id");
    }
}
