//! Wire formats of TLS 1.2 (RFC 5246 §6–§7 plus the extension RFCs).
//!
//! Design:
//! - Parsers are zero-copy: message structs borrow from the input slice.
//!   They use nom 8 complete-input combinators internally and never panic,
//!   index out of bounds or allocate in proportion to the input.
//! - Parsers return `Result<T, AlertDescription>` where the error is the
//!   alert the RFCs require the receiver to send. The rule used throughout:
//!   a length/framing problem (truncation, trailing bytes, a vector outside
//!   its `<min..max>` range, an odd-length u16 list) is `decode_error`; a
//!   well-framed field with a value we must refuse (a duplicate extension, a
//!   second SNI host name or a bad host name, a non-`named_curve` curve type,
//!   a ChangeCipherSpec byte other than 1, an alert level other than 1/2) is
//!   `illegal_parameter`; an unknown extension in a ServerHello is
//!   `unsupported_extension`; oversized records are `record_overflow`.
//! - Encoders append whole messages (handshake header included) to a
//!   `Vec<u8>` and return `Result<(), EncodeError>`: every variable-length
//!   field is checked against its RFC range, nothing is ever truncated, and
//!   on error the output buffer is left as it was. Fixed-size encoders
//!   ([`Alert::encode`], [`RecordHeader::encode`]) cannot fail.

mod alert;
mod extensions;
mod handshake;
mod lists;
mod reader;
mod record;
mod writer;

pub use alert::{Alert, AlertDescription, AlertLevel};
pub use extensions::{
    ClientExtensions, ExtensionType, ServerExtensions, MAX_HOST_NAME_LEN,
    TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
};
pub use handshake::{
    encode_certificate, encode_ecdh_params, encode_handshake, parse_change_cipher_spec,
    split_message, Certificate, CertificateRequest, CertificateVerify, ClientHello,
    ClientKeyExchange, DigitallySigned, Finished, HandshakeHeader, HandshakeType, HelloRequest,
    NewSessionTicket, ServerEcdhParams, ServerHello, ServerHelloDone, ServerKeyExchange,
    CHANGE_CIPHER_SPEC_PAYLOAD, CURVE_TYPE_NAMED_CURVE, HANDSHAKE_HEADER_LEN, VERIFY_DATA_LEN,
};
pub use lists::{ProtocolNameList, U16List};
pub use record::{
    ContentType, ProtocolVersion, RecordHeader, MAX_CIPHERTEXT, MAX_CIPHERTEXT_AEAD, MAX_PLAINTEXT,
    RECORD_HEADER_LEN,
};
pub use writer::{
    put_u16, put_u24, put_u32, put_u8, with_u16_len, with_u24_len, with_u8_len, EncodeError,
    U24_MAX,
};
