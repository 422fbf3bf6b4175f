//! Hello extensions (RFC 5246 §7.4.1.4 and the RFCs defining each one).
//!
//! Both hellos carry `Extension extensions<0..2^16-1>`, each entry being
//! `{ uint16 extension_type; opaque extension_data<0..2^16-1>; }`.
//! Rules applied to both directions:
//! - the same type twice → `illegal_parameter` (RFC 5246 §7.4.1.4: "There
//!   MUST NOT be more than one extension of the same type"); this includes
//!   types the codec does not otherwise understand;
//! - each known extension's body must be consumed exactly by its own grammar,
//!   any framing violation → `decode_error`.
//!
//! In a ClientHello unknown types are skipped. In a ServerHello unknown types
//! → `unsupported_extension` (a TLS 1.2 client must abort when the server
//! answers with an extension it did not offer; whether a *known* type was
//! actually offered is checked by the handshake layer).

use super::alert::AlertDescription;
use super::lists::{ProtocolNameList, U16List};
use super::reader::Reader;
use super::record::ProtocolVersion;
use super::writer::{
    put_u16, put_vec_u8, with_u16_len, with_u16_len_in, with_u8_len_in, EncodeError,
};

/// Extension type code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionType;

impl ExtensionType {
    /// `server_name` (RFC 6066 §3)
    pub const SERVER_NAME: u16 = 0;
    /// `status_request` (RFC 6066 §8) — not interpreted.
    pub const STATUS_REQUEST: u16 = 5;
    /// `supported_groups`, formerly `elliptic_curves` (RFC 8422 §5.1.1)
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// `ec_point_formats` (RFC 8422 §5.1.2)
    pub const EC_POINT_FORMATS: u16 = 11;
    /// `signature_algorithms` (RFC 5246 §7.4.1.4.1)
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// `application_layer_protocol_negotiation` (RFC 7301)
    pub const ALPN: u16 = 16;
    /// `signed_certificate_timestamp` (RFC 6962) — not interpreted.
    pub const SIGNED_CERTIFICATE_TIMESTAMP: u16 = 18;
    /// `encrypt_then_mac` (RFC 7366) — not interpreted.
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    /// `extended_master_secret` (RFC 7627)
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// `SessionTicket` (RFC 5077)
    pub const SESSION_TICKET: u16 = 35;
    /// `supported_versions` (RFC 8446 §4.2.1)
    pub const SUPPORTED_VERSIONS: u16 = 43;
    /// `renegotiation_info` (RFC 5746)
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// `TLS_EMPTY_RENEGOTIATION_INFO_SCSV` (RFC 5746 §3.3), a cipher suite value
/// a client may send instead of an empty `renegotiation_info` extension.
pub const TLS_EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;

/// `host_name(0)` in `NameType` (RFC 6066 §3).
const NAME_TYPE_HOST_NAME: u8 = 0;

/// Extension types seen so far, to refuse duplicates (RFC 5246 §7.4.1.4). A hello carries
/// a dozen or two: up to [`FEW`] are kept in a small list searched linearly; beyond that (an
/// attacker's thousands) an 8 KiB bitset on the stack takes over, O(1) per entry, so the
/// work stays linear in the entries however many are sent, and a normal hello does not pay
/// for zeroing the bitset.
struct SeenTypes {
    few: [u16; FEW],
    len: usize,
    many: Option<[u64; 1024]>,
}

/// Extension types kept in the list before the bitset takes over.
const FEW: usize = 32;

impl SeenTypes {
    fn new() -> Self {
        Self {
            few: [0; FEW],
            len: 0,
            many: None,
        }
    }

    /// Records `t`; returns false if it was already present.
    fn insert(&mut self, t: u16) -> bool {
        if let Some(bits) = &mut self.many {
            return set_bit(bits, t);
        }
        if self.few[..self.len].contains(&t) {
            return false;
        }
        if self.len < FEW {
            self.few[self.len] = t;
            self.len += 1;
            return true;
        }
        let mut bits = [0u64; 1024];
        for &seen in &self.few {
            set_bit(&mut bits, seen);
        }
        let fresh = set_bit(&mut bits, t);
        self.many = Some(bits);
        fresh
    }
}

/// Sets bit `t`; returns false if it was already set.
fn set_bit(bits: &mut [u64; 1024], t: u16) -> bool {
    let bit = 1u64 << (t % 64);
    let word = &mut bits[usize::from(t / 64)];
    let fresh = *word & bit == 0;
    *word |= bit;
    fresh
}

/// Walks an extensions block (contents of the u16-prefixed vector), checking
/// framing and duplicates, and hands each entry to `f`.
fn for_each_extension<'a>(
    block: &'a [u8],
    mut f: impl FnMut(u16, &'a [u8]) -> Result<(), AlertDescription>,
) -> Result<(), AlertDescription> {
    let mut r = Reader::new(block);
    let mut seen = SeenTypes::new();
    while !r.is_empty() {
        let typ = r.u16()?;
        let data = r.vec_u16(0, 0xffff)?;
        if !seen.insert(typ) {
            return Err(AlertDescription::IllegalParameter);
        }
        f(typ, data)?;
    }
    Ok(())
}

/// Parses a body with `parse` and requires it to consume everything.
fn whole<'a, T>(
    data: &'a [u8],
    parse: impl FnOnce(&mut Reader<'a>) -> Result<T, AlertDescription>,
) -> Result<T, AlertDescription> {
    let mut r = Reader::new(data);
    let v = parse(&mut r)?;
    r.finish()?;
    Ok(v)
}

fn require_empty(data: &[u8]) -> Result<(), AlertDescription> {
    if data.is_empty() {
        Ok(())
    } else {
        Err(AlertDescription::DecodeError)
    }
}

/// RFC 6066 §3: "without a trailing dot"; a NUL byte can never be part of a
/// DNS name and is a classic truncation trick. Both → `illegal_parameter`.
fn check_host_name(name: &[u8]) -> Result<(), AlertDescription> {
    if name.contains(&0) || name.last() == Some(&b'.') {
        Err(AlertDescription::IllegalParameter)
    } else {
        Ok(())
    }
}

/// The longest host name a `server_name` may carry: a DNS name is at most 255 octets on the
/// wire, 253 as text (RFC 1035 §2.3.4). A server refuses a longer one, so a session's name
/// always fits its record.
pub const MAX_HOST_NAME_LEN: usize = 253;

/// ClientHello `server_name` body: `ServerName server_name_list<1..2^16-1>`.
/// Entries of unknown `name_type` are assumed to carry the same
/// `opaque<1..2^16-1>` framing as `HostName` (RFC 6066 defines no other) and
/// are skipped.
fn parse_client_sni(data: &[u8]) -> Result<Option<&[u8]>, AlertDescription> {
    let list = whole(data, |r| r.vec_u16(1, 0xffff))?;
    let mut r = Reader::new(list);
    let mut host = None;
    while !r.is_empty() {
        let name_type = r.u8()?;
        let name = r.vec_u16(1, 0xffff)?;
        if name_type == NAME_TYPE_HOST_NAME {
            if host.is_some() {
                // "MUST NOT contain more than one name of the same name_type"
                return Err(AlertDescription::IllegalParameter);
            }
            check_host_name(name)?;
            host = Some(name);
        }
    }
    Ok(host)
}

/// Extensions of a ClientHello that the engine understands.
///
/// `Default` is "no extensions".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientExtensions<'a> {
    /// The `host_name` from `server_name` (RFC 6066). `None` if the extension
    /// is absent or carries no `host_name` entry.
    pub server_name: Option<&'a [u8]>,
    /// `supported_groups` (`NamedCurveList<2..2^16-1>`).
    pub supported_groups: Option<U16List<'a>>,
    /// `ec_point_formats` (`ECPointFormat list<1..2^8-1>`).
    pub ec_point_formats: Option<&'a [u8]>,
    /// `signature_algorithms` (`<2..2^16-2>`).
    pub signature_algorithms: Option<U16List<'a>>,
    /// ALPN offer.
    pub alpn: Option<ProtocolNameList<'a>>,
    /// `extended_master_secret` present (its body must be empty).
    pub extended_master_secret: bool,
    /// `SessionTicket` body: `Some(&[])` asks for a new ticket, otherwise the
    /// ticket offered for resumption (RFC 5077 §3.2).
    pub session_ticket: Option<&'a [u8]>,
    /// `renegotiation_info`: the inner `renegotiated_connection` bytes
    /// (empty on an initial handshake, RFC 5746 §3.2).
    pub renegotiation_info: Option<&'a [u8]>,
    /// `supported_versions` present and listing TLS 1.3 (0x0304). When
    /// encoding, `true` emits the list `{0x0304, 0x0303}`.
    pub supported_versions_offers_tls13: bool,
}

impl<'a> ClientExtensions<'a> {
    /// Parses the contents of the extensions vector (without its u16 prefix).
    pub fn parse(block: &'a [u8]) -> Result<Self, AlertDescription> {
        let mut ext = ClientExtensions::default();
        for_each_extension(block, |typ, data| {
            match typ {
                ExtensionType::SERVER_NAME => ext.server_name = parse_client_sni(data)?,
                ExtensionType::SUPPORTED_GROUPS => {
                    ext.supported_groups =
                        Some(whole(data, |r| U16List::read_u16_prefixed(r, 2, 0xffff))?)
                }
                ExtensionType::EC_POINT_FORMATS => {
                    ext.ec_point_formats = Some(whole(data, |r| r.vec_u8(1, 0xff))?)
                }
                ExtensionType::SIGNATURE_ALGORITHMS => {
                    ext.signature_algorithms =
                        Some(whole(data, |r| U16List::read_u16_prefixed(r, 2, 0xfffe))?)
                }
                ExtensionType::ALPN => {
                    let list = whole(data, |r| r.vec_u16(2, 0xffff))?;
                    ext.alpn = Some(ProtocolNameList::from_wire(list)?);
                }
                ExtensionType::EXTENDED_MASTER_SECRET => {
                    require_empty(data)?;
                    ext.extended_master_secret = true;
                }
                ExtensionType::SESSION_TICKET => ext.session_ticket = Some(data),
                ExtensionType::RENEGOTIATION_INFO => {
                    ext.renegotiation_info = Some(whole(data, |r| r.vec_u8(0, 0xff))?)
                }
                ExtensionType::SUPPORTED_VERSIONS => {
                    let versions = whole(data, |r| U16List::read_u8_prefixed(r, 2, 254))?;
                    ext.supported_versions_offers_tls13 = versions.contains(ProtocolVersion::TLS13);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(ext)
    }

    /// True if encoding would produce no extension at all.
    pub fn is_empty(&self) -> bool {
        *self == ClientExtensions::default()
    }

    /// Appends the entries (without the outer u16 prefix), in a fixed order.
    /// Fails if a field violates its RFC range (including the host-name rules
    /// checked by the parser).
    pub fn encode_entries(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(host) = self.server_name {
            if host.is_empty() || check_host_name(host).is_err() {
                return Err(EncodeError::new("server_name"));
            }
            entry(out, ExtensionType::SERVER_NAME, |o| {
                with_u16_len_in(o, 1, 0xffff, "server_name_list", |o| {
                    o.push(NAME_TYPE_HOST_NAME);
                    super::writer::put_vec_u16(o, host, 1, 0xffff, "HostName")
                })
            })?;
        }
        if let Some(groups) = &self.supported_groups {
            entry(out, ExtensionType::SUPPORTED_GROUPS, |o| {
                with_u16_len_in(o, 2, 0xffff, "supported_groups", |o| groups.write_values(o))
            })?;
        }
        if let Some(formats) = self.ec_point_formats {
            entry(out, ExtensionType::EC_POINT_FORMATS, |o| {
                put_vec_u8(o, formats, 1, 0xff, "ec_point_formats")
            })?;
        }
        if let Some(algs) = &self.signature_algorithms {
            entry(out, ExtensionType::SIGNATURE_ALGORITHMS, |o| {
                with_u16_len_in(o, 2, 0xfffe, "signature_algorithms", |o| {
                    algs.write_values(o)
                })
            })?;
        }
        if let Some(alpn) = &self.alpn {
            entry(out, ExtensionType::ALPN, |o| {
                with_u16_len_in(o, 2, 0xffff, "protocol_name_list", |o| alpn.write_names(o))
            })?;
        }
        if self.extended_master_secret {
            entry(out, ExtensionType::EXTENDED_MASTER_SECRET, |_| Ok(()))?;
        }
        if let Some(ticket) = self.session_ticket {
            entry(out, ExtensionType::SESSION_TICKET, |o| {
                o.extend_from_slice(ticket);
                Ok(())
            })?;
        }
        if self.supported_versions_offers_tls13 {
            entry(out, ExtensionType::SUPPORTED_VERSIONS, |o| {
                with_u8_len_in(o, 2, 254, "supported_versions", |o| {
                    put_u16(o, ProtocolVersion::TLS13);
                    put_u16(o, ProtocolVersion::TLS12);
                    Ok(())
                })
            })?;
        }
        if let Some(info) = self.renegotiation_info {
            entry(out, ExtensionType::RENEGOTIATION_INFO, |o| {
                put_vec_u8(o, info, 0, 0xff, "renegotiated_connection")
            })?;
        }
        Ok(())
    }
}

/// Extensions a TLS 1.2 server may answer with.
///
/// `Default` is "no extensions".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerExtensions<'a> {
    /// Empty `server_name` extension: the server used the client's SNI
    /// (RFC 6066 §3). A non-empty body → `decode_error`.
    pub server_name_ack: bool,
    /// `ec_point_formats` (`<1..2^8-1>`).
    pub ec_point_formats: Option<&'a [u8]>,
    /// The single selected ALPN protocol (RFC 7301 §3.1: the server's list
    /// "MUST contain exactly one ProtocolName"; any other count →
    /// `decode_error`).
    pub alpn: Option<&'a [u8]>,
    /// `extended_master_secret` (empty body).
    pub extended_master_secret: bool,
    /// Empty `SessionTicket` extension: a NewSessionTicket will follow
    /// (RFC 5077 §3.2). A non-empty body → `decode_error`.
    pub session_ticket_ack: bool,
    /// `renegotiation_info` inner bytes (RFC 5746 §3.2).
    pub renegotiation_info: Option<&'a [u8]>,
}

impl<'a> ServerExtensions<'a> {
    /// Parses the contents of the extensions vector (without its u16 prefix).
    /// Types not listed in this struct → `unsupported_extension`.
    pub fn parse(block: &'a [u8]) -> Result<Self, AlertDescription> {
        let mut ext = ServerExtensions::default();
        for_each_extension(block, |typ, data| {
            match typ {
                ExtensionType::SERVER_NAME => {
                    require_empty(data)?;
                    ext.server_name_ack = true;
                }
                ExtensionType::EC_POINT_FORMATS => {
                    ext.ec_point_formats = Some(whole(data, |r| r.vec_u8(1, 0xff))?)
                }
                ExtensionType::ALPN => {
                    let list = whole(data, |r| r.vec_u16(2, 0xffff))?;
                    let name = whole(list, |r| r.vec_u8(1, 0xff))?;
                    ext.alpn = Some(name);
                }
                ExtensionType::EXTENDED_MASTER_SECRET => {
                    require_empty(data)?;
                    ext.extended_master_secret = true;
                }
                ExtensionType::SESSION_TICKET => {
                    require_empty(data)?;
                    ext.session_ticket_ack = true;
                }
                ExtensionType::RENEGOTIATION_INFO => {
                    ext.renegotiation_info = Some(whole(data, |r| r.vec_u8(0, 0xff))?)
                }
                _ => return Err(AlertDescription::UnsupportedExtension),
            }
            Ok(())
        })?;
        Ok(ext)
    }

    /// True if encoding would produce no extension at all.
    pub fn is_empty(&self) -> bool {
        *self == ServerExtensions::default()
    }

    /// Appends the entries (without the outer u16 prefix), in a fixed order.
    pub fn encode_entries(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.server_name_ack {
            entry(out, ExtensionType::SERVER_NAME, |_| Ok(()))?;
        }
        if let Some(info) = self.renegotiation_info {
            entry(out, ExtensionType::RENEGOTIATION_INFO, |o| {
                put_vec_u8(o, info, 0, 0xff, "renegotiated_connection")
            })?;
        }
        if let Some(formats) = self.ec_point_formats {
            entry(out, ExtensionType::EC_POINT_FORMATS, |o| {
                put_vec_u8(o, formats, 1, 0xff, "ec_point_formats")
            })?;
        }
        if let Some(name) = self.alpn {
            entry(out, ExtensionType::ALPN, |o| {
                with_u16_len(o, |o| put_vec_u8(o, name, 1, 0xff, "ProtocolName"))
            })?;
        }
        if self.extended_master_secret {
            entry(out, ExtensionType::EXTENDED_MASTER_SECRET, |_| Ok(()))?;
        }
        if self.session_ticket_ack {
            entry(out, ExtensionType::SESSION_TICKET, |_| Ok(()))?;
        }
        Ok(())
    }
}

/// Writes one extension entry: type, then a u16-prefixed body produced by `f`.
fn entry(
    out: &mut Vec<u8>,
    typ: u16,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    put_u16(out, typ);
    let r = with_u16_len(out, f);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// Parses an optional extensions block at the end of a hello: no bytes left
/// means "no extensions"; otherwise a u16-prefixed vector that must end the
/// message exactly. Returns the vector contents (possibly empty).
pub(crate) fn read_extensions_block<'a>(
    r: &mut Reader<'a>,
) -> Result<Option<&'a [u8]>, AlertDescription> {
    if r.is_empty() {
        return Ok(None);
    }
    let block = r.vec_u16(0, 0xffff)?;
    r.finish()?;
    Ok(Some(block))
}

/// Appends the u16-prefixed extensions block, or nothing if `entries`
/// writes nothing.
pub(crate) fn write_extensions_block(
    out: &mut Vec<u8>,
    empty: bool,
    entries: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    if empty {
        return Ok(());
    }
    with_u16_len(out, entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_in_the_list_and_in_the_bitset() {
        let mut seen = SeenTypes::new();
        for t in 0..FEW as u16 {
            assert!(seen.insert(t * 7));
        }
        assert!(!seen.insert(7));
        assert!(seen.many.is_none(), "a hello's worth stays in the list");
        // Past the list: everything seen so far is still known, new types are fresh.
        assert!(seen.insert(0xff01));
        assert!(seen.many.is_some());
        assert!(!seen.insert(0));
        assert!(!seen.insert(0xff01));
        for t in 1000..3000u16 {
            assert!(seen.insert(t));
        }
        assert!(!seen.insert(2999));
        assert!(seen.insert(u16::MAX));
        assert!(!seen.insert(u16::MAX));
    }

    fn ext(typ: u16, body: &[u8]) -> Vec<u8> {
        let mut v = typ.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn sni(entries: &[(u8, &[u8])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (t, n) in entries {
            list.push(*t);
            list.extend_from_slice(&(n.len() as u16).to_be_bytes());
            list.extend_from_slice(n);
        }
        let mut body = (list.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&list);
        body
    }

    const D: Result<ClientExtensions<'static>, AlertDescription> =
        Err(AlertDescription::DecodeError);
    const I: Result<ClientExtensions<'static>, AlertDescription> =
        Err(AlertDescription::IllegalParameter);

    #[test]
    fn client_sni_rules() {
        let good = ext(0, &sni(&[(0, b"a.example")]));
        assert_eq!(
            ClientExtensions::parse(&good).unwrap().server_name,
            Some(&b"a.example"[..])
        );
        // Unknown name types are skipped.
        let other = ext(0, &sni(&[(7, b"xx"), (0, b"h")]));
        assert_eq!(
            ClientExtensions::parse(&other).unwrap().server_name,
            Some(&b"h"[..])
        );
        assert_eq!(ClientExtensions::parse(&ext(0, b"")), D);
        assert_eq!(ClientExtensions::parse(&ext(0, &[0, 0])), D);
        assert_eq!(ClientExtensions::parse(&ext(0, &sni(&[(0, b"")]))), D);
        assert_eq!(
            ClientExtensions::parse(&ext(0, &sni(&[(0, b"a"), (0, b"b")]))),
            I
        );
        assert_eq!(ClientExtensions::parse(&ext(0, &sni(&[(0, b"a.")]))), I);
        assert_eq!(ClientExtensions::parse(&ext(0, &sni(&[(0, b"a\0b")]))), I);
        // List length disagrees with the body.
        assert_eq!(ClientExtensions::parse(&ext(0, &[0, 5, 0, 0, 1, b'a'])), D);
        let mut trailing = sni(&[(0, b"a")]);
        trailing.push(0);
        assert_eq!(ClientExtensions::parse(&ext(0, &trailing)), D);
    }

    #[test]
    fn client_simple_extension_rules() {
        assert_eq!(ClientExtensions::parse(&ext(23, &[0])), D);
        assert!(
            ClientExtensions::parse(&ext(23, &[]))
                .unwrap()
                .extended_master_secret
        );
        // ALPN with an empty name / empty list.
        assert_eq!(
            ClientExtensions::parse(&ext(16, &[0, 3, 2, b'h', b'2'])).map(|e| e.alpn.is_some()),
            Ok(true)
        );
        assert_eq!(
            ClientExtensions::parse(&ext(16, &[0, 4, 2, b'h', b'2', 0])),
            D
        );
        assert_eq!(ClientExtensions::parse(&ext(16, &[0, 0])), D);
        assert_eq!(ClientExtensions::parse(&ext(16, &[0, 1, 0])), D);
        // supported_groups: odd / empty.
        assert_eq!(ClientExtensions::parse(&ext(10, &[0, 3, 0, 0x1d, 0])), D);
        assert_eq!(ClientExtensions::parse(&ext(10, &[0, 0])), D);
        // signature_algorithms max is 2^16-2, odd rejected anyway.
        assert_eq!(ClientExtensions::parse(&ext(13, &[0, 1, 4])), D);
        // ec_point_formats must be non-empty.
        assert_eq!(ClientExtensions::parse(&ext(11, &[0])), D);
        // renegotiation_info inner vector must fill the body.
        assert_eq!(ClientExtensions::parse(&ext(0xff01, &[])), D);
        assert_eq!(ClientExtensions::parse(&ext(0xff01, &[0, 0])), D);
        assert_eq!(
            ClientExtensions::parse(&ext(0xff01, &[2, 1, 2]))
                .unwrap()
                .renegotiation_info,
            Some(&[1, 2][..])
        );
        // supported_versions.
        let tls13 = |body: &[u8]| {
            ClientExtensions::parse(&ext(43, body)).map(|e| e.supported_versions_offers_tls13)
        };
        assert_eq!(tls13(&[4, 3, 4, 3, 3]), Ok(true));
        assert_eq!(tls13(&[2, 3, 3]), Ok(false));
        assert_eq!(ClientExtensions::parse(&ext(43, &[3, 3, 3, 3])), D);
        assert_eq!(ClientExtensions::parse(&ext(43, &[0])), D);
        // Session ticket: raw, may be empty.
        assert_eq!(
            ClientExtensions::parse(&ext(35, &[]))
                .unwrap()
                .session_ticket,
            Some(&[][..])
        );
        // Unknown types ignored, but duplicates still detected.
        assert!(ClientExtensions::parse(&ext(0x1234, &[1, 2, 3]))
            .unwrap()
            .is_empty());
        let mut dup = ext(0x1234, &[]);
        dup.extend(ext(0x1234, &[1]));
        assert_eq!(ClientExtensions::parse(&dup), I);
        let mut dup = ext(23, &[]);
        dup.extend(ext(23, &[]));
        assert_eq!(ClientExtensions::parse(&dup), I);
        // Truncated entry framing.
        assert_eq!(ClientExtensions::parse(&[0, 23, 0]), D);
        assert_eq!(ClientExtensions::parse(&[0, 23, 0, 1]), D);
        assert_eq!(ClientExtensions::parse(&[0]), D);
    }

    #[test]
    fn client_round_trip() {
        let names: [&[u8]; 2] = [b"h2", b"http/1.1"];
        let e = ClientExtensions {
            server_name: Some(b"example.com"),
            supported_groups: Some(U16List::from_values(&[0x1d, 0x17])),
            ec_point_formats: Some(&[0]),
            signature_algorithms: Some(U16List::from_values(&[0x0403, 0x0804])),
            alpn: ProtocolNameList::from_names(&names),
            extended_master_secret: true,
            session_ticket: Some(b"ticket"),
            renegotiation_info: Some(&[]),
            supported_versions_offers_tls13: true,
        };
        let mut out = Vec::new();
        e.encode_entries(&mut out).unwrap();
        assert_eq!(ClientExtensions::parse(&out), Ok(e));
        let bad = ClientExtensions {
            server_name: Some(b"trailing.dot."),
            ..Default::default()
        };
        assert!(bad.encode_entries(&mut out.clone()).is_err());
        let bad = ClientExtensions {
            supported_groups: Some(U16List::from_values(&[])),
            ..Default::default()
        };
        let before = out.clone();
        assert!(bad.encode_entries(&mut out).is_err());
        assert_eq!(out, before);
    }

    #[test]
    fn server_rules_and_round_trip() {
        let e = ServerExtensions {
            server_name_ack: true,
            ec_point_formats: Some(&[0, 1]),
            alpn: Some(b"h2"),
            extended_master_secret: true,
            session_ticket_ack: true,
            renegotiation_info: Some(&[7; 24]),
        };
        let mut out = Vec::new();
        e.encode_entries(&mut out).unwrap();
        assert_eq!(ServerExtensions::parse(&out), Ok(e));

        let u = Err(AlertDescription::UnsupportedExtension);
        let d = Err(AlertDescription::DecodeError);
        assert_eq!(ServerExtensions::parse(&ext(10, &[0, 2, 0, 0x1d])), u);
        assert_eq!(ServerExtensions::parse(&ext(0x1234, &[])), u);
        assert_eq!(ServerExtensions::parse(&ext(0, &[0])), d);
        assert_eq!(ServerExtensions::parse(&ext(35, &[1])), d);
        assert_eq!(ServerExtensions::parse(&ext(23, &[1])), d);
        // ALPN: exactly one name.
        assert_eq!(
            ServerExtensions::parse(&ext(16, &[0, 6, 2, b'h', b'2', 2, b'h', b'3'])),
            d
        );
        assert_eq!(ServerExtensions::parse(&ext(16, &[0, 1, 0])), d);
        let mut dup = ext(0, &[]);
        dup.extend(ext(0, &[]));
        assert_eq!(
            ServerExtensions::parse(&dup),
            Err(AlertDescription::IllegalParameter)
        );
    }
}
