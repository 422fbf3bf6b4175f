//! Handshake protocol messages (RFC 5246 §7.4, RFC 5077 §3.3, RFC 8422 §5).
//!
//! Every `parse` takes the message *body* (the bytes after the 4-byte
//! handshake header), borrows from it, and rejects trailing bytes with
//! `decode_error`. Every `encode` appends the *whole* message, header
//! included, with the 24-bit length back-patched; on error nothing is
//! appended.

use super::alert::AlertDescription;
use super::extensions::{
    read_extensions_block, write_extensions_block, ClientExtensions, ServerExtensions,
};
use super::lists::{validate_items, Items, U16List};
use super::reader::Reader;
use super::writer::{
    put_u16, put_u32, put_u8, put_vec_u16, put_vec_u24, put_vec_u8, with_u16_len_in,
    with_u24_len, EncodeError, U24_MAX,
};

const DECODE: AlertDescription = AlertDescription::DecodeError;

/// Length of a handshake message header.
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// Handshake message type (RFC 5246 §7.4, RFC 5077 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeType {
    /// `hello_request(0)`
    HelloRequest,
    /// `client_hello(1)`
    ClientHello,
    /// `server_hello(2)`
    ServerHello,
    /// `new_session_ticket(4)`
    NewSessionTicket,
    /// `certificate(11)`
    Certificate,
    /// `server_key_exchange(12)`
    ServerKeyExchange,
    /// `certificate_request(13)`
    CertificateRequest,
    /// `server_hello_done(14)`
    ServerHelloDone,
    /// `certificate_verify(15)`
    CertificateVerify,
    /// `client_key_exchange(16)`
    ClientKeyExchange,
    /// `finished(20)`
    Finished,
    /// Anything else (the handshake layer answers `unexpected_message`).
    Unknown(u8),
}

impl HandshakeType {
    /// Decodes a type byte.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::HelloRequest,
            1 => Self::ClientHello,
            2 => Self::ServerHello,
            4 => Self::NewSessionTicket,
            11 => Self::Certificate,
            12 => Self::ServerKeyExchange,
            13 => Self::CertificateRequest,
            14 => Self::ServerHelloDone,
            15 => Self::CertificateVerify,
            16 => Self::ClientKeyExchange,
            20 => Self::Finished,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::HelloRequest => 0,
            Self::ClientHello => 1,
            Self::ServerHello => 2,
            Self::NewSessionTicket => 4,
            Self::Certificate => 11,
            Self::ServerKeyExchange => 12,
            Self::CertificateRequest => 13,
            Self::ServerHelloDone => 14,
            Self::CertificateVerify => 15,
            Self::ClientKeyExchange => 16,
            Self::Finished => 20,
            Self::Unknown(v) => v,
        }
    }
}

/// `HandshakeType msg_type; uint24 length;`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakeHeader {
    /// Message type.
    pub typ: HandshakeType,
    /// Body length (24-bit on the wire).
    pub length: u32,
}

impl HandshakeHeader {
    /// Parses the first 4 bytes; `None` if fewer are available.
    pub fn parse(buf: &[u8]) -> Option<HandshakeHeader> {
        match buf.get(..HANDSHAKE_HEADER_LEN)? {
            [t, a, b, c] => Some(HandshakeHeader {
                typ: HandshakeType::from_u8(*t),
                length: u32::from_be_bytes([0, *a, *b, *c]),
            }),
            _ => None,
        }
    }

    /// Encodes the header. Fails if `length` does not fit in 24 bits.
    pub fn encode(&self) -> Result<[u8; HANDSHAKE_HEADER_LEN], EncodeError> {
        if self.length as usize > U24_MAX {
            return Err(EncodeError::new("handshake length"));
        }
        let [_, a, b, c] = self.length.to_be_bytes();
        Ok([self.typ.to_u8(), a, b, c])
    }
}

/// Splits one complete handshake message off the front of `buf` (which holds
/// reassembled handshake-record payload). Returns the type, the body and the
/// total number of bytes the message occupies (header + body), or `None` if
/// the message is not complete yet.
///
/// This never allocates; the caller decides how much to buffer. A caller
/// should check [`HandshakeHeader::parse`]'s `length` against its own limit
/// before buffering up to 16 MiB for an attacker.
pub fn split_message(buf: &[u8]) -> Option<(HandshakeType, &[u8], usize)> {
    let header = HandshakeHeader::parse(buf)?;
    let total = HANDSHAKE_HEADER_LEN.checked_add(usize::try_from(header.length).ok()?)?;
    let body = buf.get(HANDSHAKE_HEADER_LEN..total)?;
    Some((header.typ, body, total))
}

/// Appends a full handshake message: type, back-patched u24 length, and the
/// body written by `body`. On error the buffer is left unchanged.
pub fn encode_handshake(
    typ: HandshakeType,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    put_u8(out, typ.to_u8());
    let r = with_u24_len(out, body);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// Parses `body` fully with `f` (trailing bytes → `decode_error`).
fn whole<'a, T>(
    body: &'a [u8],
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, AlertDescription>,
) -> Result<T, AlertDescription> {
    let mut r = Reader::new(body);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// `SessionID<0..32>`: a longer one is out of the vector's range →
/// `decode_error`.
const MAX_SESSION_ID: usize = 32;

/// ClientHello (RFC 5246 §7.4.1.2).
///
/// The same struct is used to encode: every field is borrowed, and list
/// fields accept either wire bytes or values (see [`U16List::from_values`],
/// [`super::ProtocolNameList::from_names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// `client_version` as sent (not validated).
    pub client_version: u16,
    /// `Random` (32 bytes).
    pub random: &'a [u8; 32],
    /// `SessionID<0..32>`.
    pub session_id: &'a [u8],
    /// `CipherSuite cipher_suites<2..2^16-2>`.
    pub cipher_suites: U16List<'a>,
    /// `CompressionMethod compression_methods<1..2^8-1>`; whether `0` (null)
    /// is present is for the caller to check.
    pub compression_methods: &'a [u8],
    /// Understood extensions. An absent extensions block and an empty one
    /// both parse as `ClientExtensions::default()`; encoding omits the block
    /// when there is no extension.
    pub extensions: ClientExtensions<'a>,
}

impl<'a> ClientHello<'a> {
    /// Parses a ClientHello body.
    ///
    /// Errors: any framing or range violation → `decode_error`; a duplicate
    /// extension, two SNI host names or a host name with NUL / trailing dot →
    /// `illegal_parameter`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        let mut r = Reader::new(body);
        let client_version = r.u16()?;
        let random = r.array::<32>()?;
        let session_id = r.vec_u8(0, MAX_SESSION_ID)?;
        let cipher_suites = U16List::read_u16_prefixed(&mut r, 2, 0xfffe)?;
        let compression_methods = r.vec_u8(1, 0xff)?;
        let extensions = match read_extensions_block(&mut r)? {
            Some(block) => ClientExtensions::parse(block)?,
            None => ClientExtensions::default(),
        };
        r.finish()?;
        Ok(ClientHello {
            client_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }

    /// Appends the full message. Fails if a field is outside its RFC range.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::ClientHello, out, |o| {
            put_u16(o, self.client_version);
            o.extend_from_slice(self.random);
            put_vec_u8(o, self.session_id, 0, MAX_SESSION_ID, "session_id")?;
            with_u16_len_in(o, 2, 0xfffe, "cipher_suites", |o| {
                self.cipher_suites.write_values(o)
            })?;
            put_vec_u8(o, self.compression_methods, 1, 0xff, "compression_methods")?;
            write_extensions_block(o, self.extensions.is_empty(), |o| {
                self.extensions.encode_entries(o)
            })
        })
    }
}

/// ServerHello (RFC 5246 §7.4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello<'a> {
    /// `server_version` as sent (not validated).
    pub server_version: u16,
    /// `Random` (32 bytes).
    pub random: &'a [u8; 32],
    /// `SessionID<0..32>`.
    pub session_id: &'a [u8],
    /// Selected cipher suite.
    pub cipher_suite: u16,
    /// Selected compression method.
    pub compression_method: u8,
    /// Extensions (absent block = default).
    pub extensions: ServerExtensions<'a>,
}

impl<'a> ServerHello<'a> {
    /// Parses a ServerHello body.
    ///
    /// Errors: framing → `decode_error`; duplicate extension →
    /// `illegal_parameter`; an extension type not in [`ServerExtensions`] →
    /// `unsupported_extension`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        let mut r = Reader::new(body);
        let server_version = r.u16()?;
        let random = r.array::<32>()?;
        let session_id = r.vec_u8(0, MAX_SESSION_ID)?;
        let cipher_suite = r.u16()?;
        let compression_method = r.u8()?;
        let extensions = match read_extensions_block(&mut r)? {
            Some(block) => ServerExtensions::parse(block)?,
            None => ServerExtensions::default(),
        };
        r.finish()?;
        Ok(ServerHello {
            server_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }

    /// Appends the full message. Fails if a field is outside its RFC range.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::ServerHello, out, |o| {
            put_u16(o, self.server_version);
            o.extend_from_slice(self.random);
            put_vec_u8(o, self.session_id, 0, MAX_SESSION_ID, "session_id")?;
            put_u16(o, self.cipher_suite);
            put_u8(o, self.compression_method);
            write_extensions_block(o, self.extensions.is_empty(), |o| {
                self.extensions.encode_entries(o)
            })
        })
    }
}

/// Certificate (RFC 5246 §7.4.2):
/// `opaque ASN.1Cert<1..2^24-1>; ASN.1Cert certificate_list<0..2^24-1>;`.
///
/// Holds the validated raw list; certificates are not interpreted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate<'a> {
    list: &'a [u8],
    count: usize,
}

impl<'a> Certificate<'a> {
    /// Parses a Certificate body. An empty certificate (zero-length entry) or
    /// any framing error → `decode_error`. An empty list is accepted.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        let list = whole(body, |r| r.vec_u24(0, U24_MAX))?;
        let count = validate_items(list, 3, 1, U24_MAX)?;
        Ok(Certificate { list, count })
    }

    /// The DER certificates, leaf first.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Items::new(self.list, 3)
    }

    /// Number of certificates.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The raw `certificate_list` contents (without its u24 prefix).
    pub fn raw_list(&self) -> &'a [u8] {
        self.list
    }

    /// Re-encodes the full message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::Certificate, out, |o| {
            put_vec_u24(o, self.list, 0, U24_MAX, "certificate_list")
        })
    }
}

/// Appends a full Certificate message built from DER certificates (leaf
/// first). Fails if a certificate is empty or longer than 2^24-1 bytes, or
/// the whole list exceeds 2^24-1 bytes.
pub fn encode_certificate(
    certs: &[impl AsRef<[u8]>],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_handshake(HandshakeType::Certificate, out, |o| {
        super::writer::with_u24_len_in(o, 0, U24_MAX, "certificate_list", |o| {
            for c in certs {
                put_vec_u24(o, c.as_ref(), 1, U24_MAX, "ASN.1Cert")?;
            }
            Ok(())
        })
    })
}

/// `ECCurveType named_curve(3)` (RFC 8422 §5.4).
pub const CURVE_TYPE_NAMED_CURVE: u8 = 3;

/// `ServerECDHParams` restricted to named curves (RFC 8422 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerEcdhParams<'a> {
    /// `NamedCurve` / named group.
    pub named_group: u16,
    /// `ECPoint point<1..2^8-1>`.
    pub public: &'a [u8],
}

impl ServerEcdhParams<'_> {
    /// Appends the encoded params (the bytes the server signs).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_ecdh_params(self.named_group, self.public, out)
    }
}

/// Appends `ServerECDHParams` for a named curve: `03 | group | len | point`.
/// These are exactly the bytes covered by the ServerKeyExchange signature
/// (after the two randoms). Fails (appending nothing) if `public` is empty or
/// longer than 255 bytes.
pub fn encode_ecdh_params(group: u16, public: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if public.is_empty() || public.len() > 0xff {
        return Err(EncodeError::new("ECPoint"));
    }
    put_u8(out, CURVE_TYPE_NAMED_CURVE);
    put_u16(out, group);
    put_vec_u8(out, public, 1, 0xff, "ECPoint")
}

/// TLS 1.2 `digitally-signed` (RFC 5246 §4.7): `SignatureAndHashAlgorithm`
/// followed by `opaque signature<0..2^16-1>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitallySigned<'a> {
    /// `SignatureAndHashAlgorithm` as one u16 (hash byte first).
    pub scheme: u16,
    /// The signature.
    pub signature: &'a [u8],
}

impl<'a> DigitallySigned<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, AlertDescription> {
        Ok(DigitallySigned {
            scheme: r.u16()?,
            signature: r.vec_u16(0, 0xffff)?,
        })
    }

    /// Appends the encoded structure.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, self.scheme);
        let r = put_vec_u16(out, self.signature, 0, 0xffff, "signature");
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}

/// ServerKeyExchange for ECDHE suites (RFC 8422 §5.4, TLS 1.2 signature form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerKeyExchange<'a> {
    /// Parsed params.
    pub params: ServerEcdhParams<'a>,
    /// The exact params bytes as received, for signature verification.
    /// Ignored by [`ServerKeyExchange::encode`], which re-encodes `params`.
    pub params_raw: &'a [u8],
    /// The signature over `client_random + server_random + params_raw`.
    pub signature: DigitallySigned<'a>,
}

impl<'a> ServerKeyExchange<'a> {
    /// Parses the body. `curve_type` other than `named_curve(3)` →
    /// `illegal_parameter` (explicit curves are deprecated by RFC 8422 and
    /// never negotiated by us); framing → `decode_error`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        let mut r = Reader::new(body);
        if r.u8()? != CURVE_TYPE_NAMED_CURVE {
            return Err(AlertDescription::IllegalParameter);
        }
        let named_group = r.u16()?;
        let public = r.vec_u8(1, 0xff)?;
        let params_raw = body.get(..body.len().saturating_sub(r.remaining())).ok_or(DECODE)?;
        let signature = DigitallySigned::read(&mut r)?;
        r.finish()?;
        Ok(ServerKeyExchange {
            params: ServerEcdhParams {
                named_group,
                public,
            },
            params_raw,
            signature,
        })
    }

    /// Appends the full message (params re-encoded from `self.params`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::ServerKeyExchange, out, |o| {
            self.params.encode(o)?;
            self.signature.encode(o)
        })
    }
}

/// Empty-bodied messages.
fn parse_empty(body: &[u8]) -> Result<(), AlertDescription> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(DECODE)
    }
}

/// ServerHelloDone (RFC 5246 §7.4.5): empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerHelloDone;

impl ServerHelloDone {
    /// Non-empty body → `decode_error`.
    pub fn parse(body: &[u8]) -> Result<Self, AlertDescription> {
        parse_empty(body).map(|()| ServerHelloDone)
    }

    /// Appends the 4-byte message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::ServerHelloDone, out, |_| Ok(()))
    }
}

/// HelloRequest (RFC 5246 §7.4.1.1): empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HelloRequest;

impl HelloRequest {
    /// Non-empty body → `decode_error`.
    pub fn parse(body: &[u8]) -> Result<Self, AlertDescription> {
        parse_empty(body).map(|()| HelloRequest)
    }

    /// Appends the 4-byte message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::HelloRequest, out, |_| Ok(()))
    }
}

/// ClientKeyExchange for ECDHE (RFC 8422 §5.7): explicit
/// `ECPoint ecdh_Yc` = `opaque point<1..2^8-1>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKeyExchange<'a> {
    /// The client's ephemeral public point.
    pub public: &'a [u8],
}

impl<'a> ClientKeyExchange<'a> {
    /// Framing (including an empty point) → `decode_error`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        let public = whole(body, |r| r.vec_u8(1, 0xff))?;
        Ok(ClientKeyExchange { public })
    }

    /// Appends the full message; fails if `public` is empty or > 255 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::ClientKeyExchange, out, |o| {
            put_vec_u8(o, self.public, 1, 0xff, "ECPoint")
        })
    }
}

/// Length of `verify_data` for every TLS 1.2 suite we support
/// (RFC 5246 §7.4.9).
pub const VERIFY_DATA_LEN: usize = 12;

/// Finished (RFC 5246 §7.4.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished<'a> {
    /// `verify_data[12]`.
    pub verify_data: &'a [u8; VERIFY_DATA_LEN],
}

impl<'a> Finished<'a> {
    /// A body of any length other than 12 → `decode_error`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        let verify_data = <&[u8; VERIFY_DATA_LEN]>::try_from(body).map_err(|_| DECODE)?;
        Ok(Finished { verify_data })
    }

    /// Appends the 16-byte message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::Finished, out, |o| {
            o.extend_from_slice(self.verify_data);
            Ok(())
        })
    }
}

/// NewSessionTicket (RFC 5077 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSessionTicket<'a> {
    /// `ticket_lifetime_hint` in seconds (0 = unspecified).
    pub lifetime_hint: u32,
    /// `opaque ticket<0..2^16-1>`.
    pub ticket: &'a [u8],
}

impl<'a> NewSessionTicket<'a> {
    /// Framing → `decode_error`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        whole(body, |r| {
            Ok(NewSessionTicket {
                lifetime_hint: r.u32()?,
                ticket: r.vec_u16(0, 0xffff)?,
            })
        })
    }

    /// Appends the full message; fails if the ticket exceeds 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::NewSessionTicket, out, |o| {
            put_u32(o, self.lifetime_hint);
            put_vec_u16(o, self.ticket, 0, 0xffff, "ticket")
        })
    }
}

/// CertificateRequest (RFC 5246 §7.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateRequest<'a> {
    /// `ClientCertificateType certificate_types<1..2^8-1>`.
    pub certificate_types: &'a [u8],
    /// `SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>`.
    pub signature_algorithms: U16List<'a>,
    /// Contents of `DistinguishedName certificate_authorities<0..2^16-1>`
    /// (each entry `opaque DistinguishedName<1..2^16-1>`). Validated by
    /// `parse` and by `encode`.
    pub certificate_authorities: &'a [u8],
}

impl<'a> CertificateRequest<'a> {
    /// Framing → `decode_error`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        whole(body, |r| {
            let certificate_types = r.vec_u8(1, 0xff)?;
            let signature_algorithms = U16List::read_u16_prefixed(r, 2, 0xfffe)?;
            let certificate_authorities = r.vec_u16(0, 0xffff)?;
            validate_items(certificate_authorities, 2, 1, 0xffff)?;
            Ok(CertificateRequest {
                certificate_types,
                signature_algorithms,
                certificate_authorities,
            })
        })
    }

    /// The DER-encoded distinguished names.
    pub fn authorities(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Items::new(self.certificate_authorities, 2)
    }

    /// Appends the full message. Fails on out-of-range fields or a malformed
    /// `certificate_authorities` list.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        validate_items(self.certificate_authorities, 2, 1, 0xffff)
            .map_err(|_| EncodeError::new("certificate_authorities"))?;
        encode_handshake(HandshakeType::CertificateRequest, out, |o| {
            put_vec_u8(o, self.certificate_types, 1, 0xff, "certificate_types")?;
            with_u16_len_in(o, 2, 0xfffe, "supported_signature_algorithms", |o| {
                self.signature_algorithms.write_values(o)
            })?;
            put_vec_u16(
                o,
                self.certificate_authorities,
                0,
                0xffff,
                "certificate_authorities",
            )
        })
    }
}

/// The only valid ChangeCipherSpec payload (RFC 5246 §7.1).
pub const CHANGE_CIPHER_SPEC_PAYLOAD: [u8; 1] = [1];

/// Validates a ChangeCipherSpec record payload.
///
/// Length other than 1 → `decode_error`; one byte other than 1 →
/// `illegal_parameter` (well-framed, out-of-range value — the same rule as
/// a non-named `curve_type` or an unknown alert level).
pub fn parse_change_cipher_spec(payload: &[u8]) -> Result<(), AlertDescription> {
    match payload {
        [1] => Ok(()),
        [_] => Err(AlertDescription::IllegalParameter),
        _ => Err(DECODE),
    }
}
