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
    put_u16, put_u32, put_u8, put_vec_u16, put_vec_u24, put_vec_u8, with_u16_len_in, with_u24_len,
    EncodeError, U24_MAX,
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
        let params_raw = body
            .get(..body.len().saturating_sub(r.remaining()))
            .ok_or(DECODE)?;
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

/// CertificateVerify (RFC 5246 §7.4.8): the client's signature over every handshake message
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateVerify<'a> {
    /// The scheme and the signature.
    pub signed: DigitallySigned<'a>,
}

impl<'a> CertificateVerify<'a> {
    /// Framing → `decode_error`.
    pub fn parse(body: &'a [u8]) -> Result<Self, AlertDescription> {
        whole(body, |r| {
            Ok(CertificateVerify {
                signed: DigitallySigned::read(r)?,
            })
        })
    }

    /// Appends the full message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_handshake(HandshakeType::CertificateVerify, out, |o| {
            self.signed.encode(o)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ExtensionType, ProtocolNameList, RecordHeader, RECORD_HEADER_LEN};

    const CAPS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vectors/data/illustrated-tls12/caps/"
    );

    fn cap(name: &str) -> Vec<u8> {
        std::fs::read(format!("{CAPS}{name}")).unwrap()
    }

    /// Strips the record header of a capture and returns (type, body, whole
    /// handshake message) of its single handshake message.
    fn message(name: &str) -> (HandshakeType, Vec<u8>, Vec<u8>) {
        let rec = cap(name);
        let h = RecordHeader::parse(&rec).unwrap();
        let payload = &rec[RECORD_HEADER_LEN..];
        assert_eq!(payload.len(), usize::from(h.length));
        let (typ, body, used) = split_message(payload).unwrap();
        assert_eq!(used, payload.len());
        (typ, body.to_vec(), payload.to_vec())
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn encoded(f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        out
    }

    fn body_of(msg: &[u8]) -> &[u8] {
        let (_, body, used) = split_message(msg).unwrap();
        assert_eq!(used, msg.len());
        body
    }

    // ---- framing ----

    #[test]
    fn handshake_header_and_split() {
        let h = HandshakeHeader {
            typ: HandshakeType::Finished,
            length: 12,
        };
        assert_eq!(h.encode(), Ok([20, 0, 0, 12]));
        assert_eq!(HandshakeHeader::parse(&[20, 0, 0, 12]), Some(h));
        assert_eq!(HandshakeHeader::parse(&[20, 0, 0]), None);
        let too_big = HandshakeHeader {
            length: 1 << 24,
            ..h
        };
        assert!(too_big.encode().is_err());
        for v in 0..=255u8 {
            assert_eq!(HandshakeType::from_u8(v).to_u8(), v);
        }

        let mut buf = vec![14, 0, 0, 0, 20, 0, 0, 2, 0xaa];
        assert_eq!(
            split_message(&buf),
            Some((HandshakeType::ServerHelloDone, &[][..], 4))
        );
        assert_eq!(split_message(&buf[4..]), None);
        buf.push(0xbb);
        assert_eq!(
            split_message(&buf[4..]),
            Some((HandshakeType::Finished, &[0xaa, 0xbb][..], 6))
        );
        assert_eq!(split_message(&[1, 0xff, 0xff, 0xff]), None);
        assert_eq!(split_message(&[]), None);
    }

    #[test]
    fn change_cipher_spec() {
        let rec = cap("clientccs");
        assert_eq!(parse_change_cipher_spec(&rec[RECORD_HEADER_LEN..]), Ok(()));
        assert_eq!(
            parse_change_cipher_spec(&CHANGE_CIPHER_SPEC_PAYLOAD),
            Ok(())
        );
        assert_eq!(
            parse_change_cipher_spec(&[2]),
            Err(AlertDescription::IllegalParameter)
        );
        assert_eq!(parse_change_cipher_spec(&[]), Err(DECODE));
        assert_eq!(parse_change_cipher_spec(&[1, 1]), Err(DECODE));
    }

    // ---- test vectors from "The Illustrated TLS 1.2 Connection" ----

    #[test]
    fn vector_client_hello() {
        let (typ, body, _) = message("clienthello");
        assert_eq!(typ, HandshakeType::ClientHello);
        let ch = ClientHello::parse(&body).unwrap();
        assert_eq!(ch.client_version, 0x0303);
        let expected_random: Vec<u8> = (0..32).collect();
        assert_eq!(&ch.random[..], &expected_random[..]);
        assert_eq!(ch.session_id, &[][..]);
        let suites: Vec<u16> = ch.cipher_suites.iter().collect();
        assert_eq!(suites.len(), 16);
        assert_eq!(&suites[..3], &[0xcca8, 0xcca9, 0xc02f]);
        assert_eq!(suites[15], 0x000a);
        assert!(ch.cipher_suites.contains(0xc013));
        assert_eq!(ch.compression_methods, &[0][..]);
        let e = &ch.extensions;
        assert_eq!(e.server_name, Some(&b"example.ulfheim.net"[..]));
        assert_eq!(
            e.supported_groups,
            Some(U16List::from_values(&[0x001d, 0x0017, 0x0018, 0x0019]))
        );
        assert_eq!(e.ec_point_formats, Some(&[0][..]));
        assert_eq!(
            e.signature_algorithms,
            Some(U16List::from_values(&[
                0x0401, 0x0403, 0x0501, 0x0503, 0x0601, 0x0603, 0x0201, 0x0203
            ]))
        );
        assert_eq!(e.renegotiation_info, Some(&[][..]));
        // This capture carries status_request and signed_certificate_timestamp
        // (ignored) and, per the vectors' own notes, *no* extended_master_secret.
        assert!(!e.extended_master_secret);
        assert_eq!(e.alpn, None);
        assert_eq!(e.session_ticket, None);
        assert!(!e.supported_versions_offers_tls13);
    }

    #[test]
    fn vector_server_hello() {
        let (typ, body, msg) = message("serverhello");
        assert_eq!(typ, HandshakeType::ServerHello);
        let sh = ServerHello::parse(&body).unwrap();
        assert_eq!(sh.server_version, 0x0303);
        let expected_random: Vec<u8> = (0x70..0x90).collect();
        assert_eq!(&sh.random[..], &expected_random[..]);
        assert_eq!(sh.session_id, &[][..]);
        assert_eq!(sh.cipher_suite, 0xc013);
        assert_eq!(sh.compression_method, 0);
        assert_eq!(
            sh.extensions,
            ServerExtensions {
                renegotiation_info: Some(&[]),
                ..Default::default()
            }
        );
        assert_eq!(encoded(|o| sh.encode(o)), msg);
    }

    #[test]
    fn vector_certificate() {
        let (typ, body, msg) = message("servercert");
        assert_eq!(typ, HandshakeType::Certificate);
        let c = Certificate::parse(&body).unwrap();
        assert_eq!(c.count(), 1);
        let certs: Vec<&[u8]> = c.iter().collect();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].len(), 0x325);
        assert_eq!(&certs[0][..4], &[0x30, 0x82, 0x03, 0x21]);
        assert_eq!(encoded(|o| c.encode(o)), msg);
        assert_eq!(encoded(|o| encode_certificate(&certs, o)), msg);
    }

    #[test]
    fn vector_server_key_exchange() {
        let (typ, body, msg) = message("serverkeyexchange");
        assert_eq!(typ, HandshakeType::ServerKeyExchange);
        let ske = ServerKeyExchange::parse(&body).unwrap();
        assert_eq!(ske.params.named_group, 0x001d);
        assert_eq!(
            ske.params.public,
            &hex("9fd7ad6dcff4298dd3f96d5b1b2af910a0535b1488d7f8fabb349a982880b615")[..]
        );
        assert_eq!(ske.params_raw, &body[..36]);
        assert_eq!(
            encoded(|o| encode_ecdh_params(0x001d, ske.params.public, o)),
            ske.params_raw
        );
        assert_eq!(ske.signature.scheme, 0x0401);
        assert_eq!(ske.signature.signature.len(), 256);
        assert_eq!(&ske.signature.signature[..2], &[0x04, 0x02]);
        assert_eq!(encoded(|o| ske.encode(o)), msg);
    }

    #[test]
    fn vector_server_hello_done_and_client_key_exchange() {
        let (typ, body, msg) = message("serverhellodone");
        assert_eq!(typ, HandshakeType::ServerHelloDone);
        let d = ServerHelloDone::parse(&body).unwrap();
        assert_eq!(encoded(|o| d.encode(o)), msg);

        let (typ, body, msg) = message("clientkeyexchange");
        assert_eq!(typ, HandshakeType::ClientKeyExchange);
        let cke = ClientKeyExchange::parse(&body).unwrap();
        assert_eq!(
            cke.public,
            &hex("358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254")[..]
        );
        assert_eq!(encoded(|o| cke.encode(o)), msg);
    }

    #[test]
    fn vector_finished() {
        // Decrypted client Finished (no trailing MAC in this capture).
        let plain = cap("clientfinishedplain");
        let (typ, body, used) = split_message(&plain).unwrap();
        assert_eq!((typ, used), (HandshakeType::Finished, 16));
        let f = Finished::parse(body).unwrap();
        assert_eq!(&f.verify_data[..], &hex("cf919626f1360c536aaad73a")[..]);
        assert_eq!(encoded(|o| f.encode(o)), plain);
        // Server Finished plaintext is followed by the CBC MAC/padding.
        let plain = cap("serverfinishedplain");
        let (_, body, _) = split_message(&plain).unwrap();
        let f = Finished::parse(body).unwrap();
        assert_eq!(&f.verify_data[..], &hex("844d3c10746dd722f92f0c7e")[..]);
    }

    #[test]
    fn vector_transcript_splits_and_parses() {
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors/data/illustrated-tls12/derived.json"
        ))
        .unwrap();
        let key = "\"transcript_for_server_finished\": \"";
        let start = json.find(key).unwrap() + key.len();
        let end = start + json[start..].find('"').unwrap();
        let transcript = hex(&json[start..end]);
        let mut rest = &transcript[..];
        let mut types = Vec::new();
        while let Some((typ, body, used)) = split_message(rest) {
            match typ {
                HandshakeType::ClientHello => ClientHello::parse(body).map(|_| ()).unwrap(),
                HandshakeType::ServerHello => ServerHello::parse(body).map(|_| ()).unwrap(),
                HandshakeType::Certificate => Certificate::parse(body).map(|_| ()).unwrap(),
                HandshakeType::ServerKeyExchange => {
                    ServerKeyExchange::parse(body).map(|_| ()).unwrap()
                }
                HandshakeType::ServerHelloDone => ServerHelloDone::parse(body).map(|_| ()).unwrap(),
                HandshakeType::ClientKeyExchange => {
                    ClientKeyExchange::parse(body).map(|_| ()).unwrap()
                }
                HandshakeType::Finished => Finished::parse(body).map(|_| ()).unwrap(),
                other => panic!("unexpected {other:?}"),
            }
            types.push(typ);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(types.len(), 7);
    }

    // ---- round trips ----

    const NAMES: [&[u8]; 2] = [b"h2", b"http/1.1"];

    fn sample_client_hello() -> ClientHello<'static> {
        ClientHello {
            client_version: 0x0303,
            random: &[0x42; 32],
            session_id: &[7; 32],
            cipher_suites: U16List::from_values(&[0xc02f, 0xc030, 0x00ff]),
            compression_methods: &[0],
            extensions: ClientExtensions {
                server_name: Some(b"example.com"),
                supported_groups: Some(U16List::from_values(&[0x001d, 0x0017])),
                ec_point_formats: Some(&[0]),
                signature_algorithms: Some(U16List::from_values(&[0x0804, 0x0403])),
                alpn: ProtocolNameList::from_names(&NAMES),
                extended_master_secret: true,
                session_ticket: Some(&[]),
                renegotiation_info: Some(&[]),
                supported_versions_offers_tls13: false,
            },
        }
    }

    fn sample_client_hello_bytes() -> Vec<u8> {
        encoded(|o| sample_client_hello().encode(o))
    }

    #[test]
    fn client_hello_round_trip() {
        let msg = sample_client_hello_bytes();
        let parsed = ClientHello::parse(body_of(&msg)).unwrap();
        assert_eq!(parsed, sample_client_hello());
        // Re-encoding the parsed (wire-backed) form is byte-identical.
        assert_eq!(encoded(|o| parsed.encode(o)), msg);

        // No extensions at all: the block is omitted, and parses back.
        let bare = ClientHello {
            extensions: ClientExtensions::default(),
            session_id: &[],
            ..sample_client_hello()
        };
        let msg = encoded(|o| bare.encode(o));
        assert_eq!(msg.len(), 4 + 2 + 32 + 1 + 2 + 6 + 2);
        assert_eq!(ClientHello::parse(body_of(&msg)), Ok(bare));
        // An explicitly empty extensions block is accepted too.
        let mut with_empty = msg.clone();
        with_empty.extend_from_slice(&[0, 0]);
        with_empty[3] += 2;
        assert_eq!(ClientHello::parse(body_of(&with_empty)), Ok(bare));
    }

    #[test]
    fn client_hello_encode_rejects_out_of_range() {
        let mut out = vec![9];
        let bad = [
            ClientHello {
                session_id: &[0; 33],
                ..sample_client_hello()
            },
            ClientHello {
                cipher_suites: U16List::from_values(&[]),
                ..sample_client_hello()
            },
            ClientHello {
                compression_methods: &[],
                ..sample_client_hello()
            },
        ];
        for ch in bad {
            assert!(ch.encode(&mut out).is_err());
            assert_eq!(out, [9]);
        }
    }

    #[test]
    fn server_hello_round_trip() {
        let sh = ServerHello {
            server_version: 0x0303,
            random: &[1; 32],
            session_id: &[2; 16],
            cipher_suite: 0xc02f,
            compression_method: 0,
            extensions: ServerExtensions {
                server_name_ack: true,
                ec_point_formats: Some(&[0]),
                alpn: Some(b"h2"),
                extended_master_secret: true,
                session_ticket_ack: true,
                renegotiation_info: Some(&[]),
            },
        };
        let msg = encoded(|o| sh.encode(o));
        assert_eq!(ServerHello::parse(body_of(&msg)), Ok(sh));
        let bare = ServerHello {
            extensions: ServerExtensions::default(),
            ..sh
        };
        let msg = encoded(|o| bare.encode(o));
        assert_eq!(ServerHello::parse(body_of(&msg)), Ok(bare));
        let mut out = Vec::new();
        assert!(ServerHello {
            session_id: &[0; 33],
            ..sh
        }
        .encode(&mut out)
        .is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn certificate_round_trip_and_errors() {
        let certs: [&[u8]; 3] = [b"leaf", b"intermediate", b"x"];
        let msg = encoded(|o| encode_certificate(&certs, o));
        let c = Certificate::parse(body_of(&msg)).unwrap();
        assert_eq!(c.count(), 3);
        assert_eq!(c.iter().collect::<Vec<_>>(), certs);
        assert_eq!(encoded(|o| c.encode(o)), msg);
        let owned = vec![b"leaf".to_vec()];
        let msg = encoded(|o| encode_certificate(&owned, o));
        assert_eq!(Certificate::parse(body_of(&msg)).unwrap().count(), 1);

        let empty: [&[u8]; 0] = [];
        let msg = encoded(|o| encode_certificate(&empty, o));
        assert_eq!(msg, [11, 0, 0, 3, 0, 0, 0]);
        let c = Certificate::parse(body_of(&msg)).unwrap();
        assert_eq!(c.count(), 0);
        assert_eq!(c.iter().count(), 0);

        let mut out = Vec::new();
        assert!(encode_certificate(&[b"" as &[u8]], &mut out).is_err());
        assert!(out.is_empty());
        // Zero-length certificate, truncated entry, trailing byte.
        assert_eq!(Certificate::parse(&[0, 0, 3, 0, 0, 0]), Err(DECODE));
        assert_eq!(Certificate::parse(&[0, 0, 4, 0, 0, 2, 1]), Err(DECODE));
        assert_eq!(Certificate::parse(&[0, 0, 4, 0, 0, 1, 1, 0]), Err(DECODE));
        assert_eq!(Certificate::parse(&[0, 0]), Err(DECODE));
    }

    #[test]
    fn server_key_exchange_round_trip_and_errors() {
        let params_raw = encoded(|o| encode_ecdh_params(0x0017, &[4; 65], o));
        let ske = ServerKeyExchange {
            params: ServerEcdhParams {
                named_group: 0x0017,
                public: &[4; 65],
            },
            params_raw: &params_raw,
            signature: DigitallySigned {
                scheme: 0x0403,
                signature: &[9; 72],
            },
        };
        let msg = encoded(|o| ske.encode(o));
        assert_eq!(ServerKeyExchange::parse(body_of(&msg)), Ok(ske));

        let mut body = body_of(&msg).to_vec();
        body[0] = 1; // explicit_prime
        assert_eq!(
            ServerKeyExchange::parse(&body),
            Err(AlertDescription::IllegalParameter)
        );
        let mut body = body_of(&msg).to_vec();
        body.push(0);
        assert_eq!(ServerKeyExchange::parse(&body), Err(DECODE));
        // Empty point.
        assert_eq!(
            ServerKeyExchange::parse(&[3, 0, 0x1d, 0, 4, 1, 0, 0]),
            Err(DECODE)
        );
        let mut out = Vec::new();
        assert!(encode_ecdh_params(0x1d, &[], &mut out).is_err());
        assert!(encode_ecdh_params(0x1d, &[0; 256], &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn small_messages_round_trip_and_errors() {
        let msg = encoded(|o| HelloRequest.encode(o));
        assert_eq!(msg, [0, 0, 0, 0]);
        assert_eq!(HelloRequest::parse(body_of(&msg)), Ok(HelloRequest));
        assert_eq!(HelloRequest::parse(&[0]), Err(DECODE));
        let msg = encoded(|o| ServerHelloDone.encode(o));
        assert_eq!(msg, [14, 0, 0, 0]);
        assert_eq!(ServerHelloDone::parse(&[0]), Err(DECODE));

        let cke = ClientKeyExchange { public: &[5; 32] };
        let msg = encoded(|o| cke.encode(o));
        assert_eq!(ClientKeyExchange::parse(body_of(&msg)), Ok(cke));
        assert_eq!(ClientKeyExchange::parse(&[0]), Err(DECODE));
        assert_eq!(ClientKeyExchange::parse(&[1, 1, 1]), Err(DECODE));
        assert_eq!(ClientKeyExchange::parse(&[]), Err(DECODE));

        let fin = Finished {
            verify_data: &[3; 12],
        };
        let msg = encoded(|o| fin.encode(o));
        assert_eq!(Finished::parse(body_of(&msg)), Ok(fin));
        assert_eq!(Finished::parse(&[0; 11]), Err(DECODE));
        assert_eq!(Finished::parse(&[0; 13]), Err(DECODE));

        let nst = NewSessionTicket {
            lifetime_hint: 7200,
            ticket: &[8; 100],
        };
        let msg = encoded(|o| nst.encode(o));
        assert_eq!(NewSessionTicket::parse(body_of(&msg)), Ok(nst));
        let empty = NewSessionTicket {
            lifetime_hint: 0,
            ticket: &[],
        };
        let msg = encoded(|o| empty.encode(o));
        assert_eq!(NewSessionTicket::parse(body_of(&msg)), Ok(empty));
        assert_eq!(NewSessionTicket::parse(&[0, 0, 0, 0, 0]), Err(DECODE));
        assert_eq!(NewSessionTicket::parse(&[0, 0, 0, 0, 0, 0, 0]), Err(DECODE));
        let mut out = Vec::new();
        let huge = vec![0u8; 0x10000];
        assert!(NewSessionTicket {
            lifetime_hint: 0,
            ticket: &huge
        }
        .encode(&mut out)
        .is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn certificate_verify_round_trip_and_errors() {
        let cv = CertificateVerify {
            signed: DigitallySigned {
                scheme: 0x0403,
                signature: &[1, 2, 3],
            },
        };
        let mut out = Vec::new();
        cv.encode(&mut out).unwrap();
        assert_eq!(out, [15, 0, 0, 7, 4, 3, 0, 3, 1, 2, 3]);
        assert_eq!(CertificateVerify::parse(&out[4..]).unwrap(), cv);
        assert_eq!(
            CertificateVerify::parse(&out[4..10]),
            Err(AlertDescription::DecodeError)
        );
        assert_eq!(
            CertificateVerify::parse(&[4, 3, 0, 1, 9, 0]),
            Err(AlertDescription::DecodeError)
        );
    }

    #[test]
    fn certificate_request_round_trip_and_errors() {
        let cas = [0, 3, 1, 2, 3, 0, 1, 9];
        let cr = CertificateRequest {
            certificate_types: &[1, 64],
            signature_algorithms: U16List::from_values(&[0x0401, 0x0403]),
            certificate_authorities: &cas,
        };
        let msg = encoded(|o| cr.encode(o));
        let parsed = CertificateRequest::parse(body_of(&msg)).unwrap();
        assert_eq!(parsed, cr);
        assert_eq!(
            parsed.authorities().collect::<Vec<_>>(),
            [&[1, 2, 3][..], &[9]]
        );
        let no_cas = CertificateRequest {
            certificate_authorities: &[],
            ..cr
        };
        let msg = encoded(|o| no_cas.encode(o));
        assert_eq!(CertificateRequest::parse(body_of(&msg)), Ok(no_cas));

        let mut out = Vec::new();
        let bad_cas = CertificateRequest {
            certificate_authorities: &[0, 5, 1],
            ..cr
        };
        assert!(bad_cas.encode(&mut out).is_err());
        assert!(out.is_empty());
        // Empty types, odd algorithms, zero-length DN.
        assert_eq!(
            CertificateRequest::parse(&[0, 0, 2, 4, 1, 0, 0]),
            Err(DECODE)
        );
        assert_eq!(
            CertificateRequest::parse(&[1, 1, 0, 1, 4, 0, 0]),
            Err(DECODE)
        );
        assert_eq!(
            CertificateRequest::parse(&[1, 1, 0, 2, 4, 1, 0, 2, 0, 0]),
            Err(DECODE)
        );
        assert!(CertificateRequest::parse(&[1, 1, 0, 2, 4, 1, 0, 0]).is_ok());
    }

    // ---- ClientHello negative tests ----

    /// Builds a ClientHello body by hand from parts so tests can break them.
    fn raw_hello(session_id: &[u8], suites: &[u8], exts: Option<&[u8]>) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0; 32]);
        b.push(session_id.len() as u8);
        b.extend_from_slice(session_id);
        b.extend_from_slice(&(suites.len() as u16).to_be_bytes());
        b.extend_from_slice(suites);
        b.extend_from_slice(&[1, 0]);
        if let Some(e) = exts {
            b.extend_from_slice(&(e.len() as u16).to_be_bytes());
            b.extend_from_slice(e);
        }
        b
    }

    fn ext(typ: u16, body: &[u8]) -> Vec<u8> {
        let mut v = typ.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// Every strict prefix fails, except the one ending right after the
    /// compression methods: an absent extensions block is legal
    /// (RFC 5246 §7.4.1.2) and must parse as "no extensions".
    fn check_prefixes(body: &[u8], no_ext_len: usize) {
        assert!(ClientHello::parse(body).is_ok());
        for n in 0..body.len() {
            let r = ClientHello::parse(&body[..n]);
            if n == no_ext_len {
                assert_eq!(r.map(|c| c.extensions), Ok(ClientExtensions::default()));
            } else {
                assert!(r.is_err(), "prefix {n}");
            }
        }
    }

    #[test]
    fn client_hello_truncated_at_every_length() {
        let msg = sample_client_hello_bytes();
        // version + random + session_id<32> + 3 suites + 1 compression method
        check_prefixes(body_of(&msg), 2 + 32 + 1 + 32 + 2 + 6 + 2);
        for n in 0..msg.len() {
            assert_eq!(split_message(&msg[..n]), None, "prefix {n}");
        }
        // Same for the real capture (empty session id, 16 suites).
        let (_, body, _) = message("clienthello");
        check_prefixes(&body, 2 + 32 + 1 + 2 + 32 + 2);
    }

    #[test]
    fn client_hello_malformed() {
        let suites = [0xc0, 0x2f];
        assert!(ClientHello::parse(&raw_hello(&[], &suites, None)).is_ok());
        assert!(ClientHello::parse(&raw_hello(&[0; 32], &suites, None)).is_ok());

        // Trailing garbage, after extensions and with no extensions block.
        let msg = sample_client_hello_bytes();
        let mut body = body_of(&msg).to_vec();
        body.push(0);
        assert_eq!(ClientHello::parse(&body), Err(DECODE));
        let mut b = raw_hello(&[], &suites, None);
        b.push(0);
        assert_eq!(ClientHello::parse(&b), Err(DECODE));
        let mut b = raw_hello(&[], &suites, Some(&[]));
        b.push(0);
        assert_eq!(ClientHello::parse(&b), Err(DECODE));

        // 33-byte session id.
        assert_eq!(
            ClientHello::parse(&raw_hello(&[0; 33], &suites, None)),
            Err(DECODE)
        );
        // Empty and odd-length cipher suite lists.
        assert_eq!(ClientHello::parse(&raw_hello(&[], &[], None)), Err(DECODE));
        assert_eq!(
            ClientHello::parse(&raw_hello(&[], &[0xc0, 0x2f, 0], None)),
            Err(DECODE)
        );
        // Empty compression methods.
        let mut b = raw_hello(&[], &suites, None);
        let n = b.len();
        b.truncate(n - 2);
        b.push(0);
        assert_eq!(ClientHello::parse(&b), Err(DECODE));
        // Compression list without null is parsed; the caller decides.
        let mut b = raw_hello(&[], &suites, None);
        *b.last_mut().unwrap() = 1;
        assert_eq!(
            ClientHello::parse(&b).unwrap().compression_methods,
            &[1][..]
        );

        // Duplicate extension.
        let mut e = ext(ExtensionType::EXTENDED_MASTER_SECRET, &[]);
        e.extend(ext(ExtensionType::EXTENDED_MASTER_SECRET, &[]));
        assert_eq!(
            ClientHello::parse(&raw_hello(&[], &suites, Some(&e))),
            Err(AlertDescription::IllegalParameter)
        );
        // EMS with a body.
        let e = ext(ExtensionType::EXTENDED_MASTER_SECRET, &[0]);
        assert_eq!(
            ClientHello::parse(&raw_hello(&[], &suites, Some(&e))),
            Err(DECODE)
        );
        // ALPN with an empty name.
        let e = ext(ExtensionType::ALPN, &[0, 4, 2, b'h', b'2', 0]);
        assert_eq!(
            ClientHello::parse(&raw_hello(&[], &suites, Some(&e))),
            Err(DECODE)
        );
        // Malformed SNI: empty body, bad inner length, trailing dot, NUL, two hosts.
        for (body, want) in [
            (&[][..], DECODE),
            (&[0, 4, 0, 0, 2, b'a'][..], DECODE),
            (&[0, 4, 0, 0, 1, b'a', 0][..], DECODE),
            (
                &[0, 5, 0, 0, 2, b'a', b'.'][..],
                AlertDescription::IllegalParameter,
            ),
            (
                &[0, 5, 0, 0, 2, b'a', 0][..],
                AlertDescription::IllegalParameter,
            ),
            (
                &[0, 8, 0, 0, 1, b'a', 0, 0, 1, b'b'][..],
                AlertDescription::IllegalParameter,
            ),
        ] {
            let e = ext(ExtensionType::SERVER_NAME, body);
            assert_eq!(
                ClientHello::parse(&raw_hello(&[], &suites, Some(&e))),
                Err(want),
                "{body:?}"
            );
        }
        // Extensions vector length disagreeing with the remaining bytes.
        let mut b = raw_hello(&[], &suites, Some(&ext(0x1234, &[])));
        let n = b.len();
        b[n - 5] += 1;
        assert_eq!(ClientHello::parse(&b), Err(DECODE));
    }

    #[test]
    fn client_hello_byte_flips_never_panic() {
        let mut inputs = vec![sample_client_hello_bytes()];
        inputs.push(message("clienthello").2);
        for msg in inputs {
            let body = body_of(&msg).to_vec();
            let mut ok = 0usize;
            for i in 0..body.len() {
                for v in [
                    0x00,
                    0x01,
                    0x20,
                    0x7f,
                    0x80,
                    0xff,
                    body[i] ^ 0x01,
                    body[i].wrapping_add(1),
                ] {
                    let mut m = body.clone();
                    m[i] = v;
                    if let Ok(ch) = ClientHello::parse(&m) {
                        ok += 1;
                        // Whatever parses must re-encode without panicking.
                        let mut out = Vec::new();
                        let _ = ch.encode(&mut out);
                        let _ = ch.cipher_suites.iter().count();
                        if let Some(a) = ch.extensions.alpn {
                            let _ = a.iter().count();
                        }
                    }
                    // Also as an arbitrary message of every other type.
                    let _ = ServerHello::parse(&m);
                    let _ = Certificate::parse(&m);
                    let _ = ServerKeyExchange::parse(&m);
                    let _ = CertificateRequest::parse(&m);
                    let _ = NewSessionTicket::parse(&m);
                    let _ = split_message(&m);
                }
            }
            assert!(ok > 0);
        }
    }
}
