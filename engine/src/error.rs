//! Errors and events reported to the caller.

use core::fmt;

use crate::codec::AlertDescription;

/// Why a connection failed. Once a connection has returned an error it is dead: every later
/// call returns the same error (after [`transmit`](crate::ServerConnection::transmit) has
/// flushed any alert we queued).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// We ended the connection with a fatal alert, for this cause ([`Cause::alert`] is the
    /// alert that went out).
    AlertSent(Cause),
    /// The peer sent this fatal alert (or an alert we treat as fatal).
    AlertReceived(AlertDescription),
    /// Application data was offered before the handshake finished or after closing.
    NotReady,
    /// The connection was closed by close_notify; nothing more can be sent or received.
    Closed,
}

impl Error {
    /// The alert this error sent, if it sent one.
    pub fn alert_sent(&self) -> Option<AlertDescription> {
        match self {
            Error::AlertSent(cause) => Some(cause.alert()),
            _ => None,
        }
    }

    /// Why we ended the connection, if we did.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Error::AlertSent(cause) => Some(cause),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlertSent(cause) => write!(f, "{cause} (alert sent: {})", cause.alert()),
            Error::AlertReceived(alert) => write!(f, "peer sent fatal alert: {alert}"),
            Error::NotReady => f.write_str("connection not ready for application data"),
            Error::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the engine ended a connection with a fatal alert.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The peer broke a rule of the protocol.
    PeerMisbehaved(Misbehavior),
    /// The peer and this endpoint have nothing in common to talk with.
    PeerIncompatible(Incompatibility),
    /// The server's certificate was refused (client side).
    InvalidCertificate(CertificateError),
    /// The client's certificate was refused (server side, when it asks for one).
    InvalidClientCertificate(CertificateError),
    /// This endpoint failed (randomness, keys, signing, sealing), or was driven out of order.
    Internal(InternalFailure),
}

impl Cause {
    /// The alert this cause sends: the table RFC 5246 §7.2.2 and the extension RFCs imply
    /// (see docs/alerts.md for why each).
    pub fn alert(&self) -> AlertDescription {
        match self {
            Cause::PeerMisbehaved(m) => m.alert(),
            Cause::PeerIncompatible(i) => i.alert(),
            Cause::InvalidCertificate(c) | Cause::InvalidClientCertificate(c) => c.alert(),
            Cause::Internal(i) => i.alert(),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::PeerMisbehaved(m) => fmt::Display::fmt(m, f),
            Cause::PeerIncompatible(i) => fmt::Display::fmt(i, f),
            Cause::InvalidCertificate(c) => write!(f, "server certificate rejected: {c}"),
            Cause::InvalidClientCertificate(c) => write!(f, "client certificate rejected: {c}"),
            Cause::Internal(i) => fmt::Display::fmt(i, f),
        }
    }
}

impl std::error::Error for Cause {}

/// Declares a cause enum with, per variant, its alert and its text for logs.
macro_rules! causes {
    (
        $(#[$meta:meta])*
        $name:ident for $cause:ident {
            $( $(#[$vmeta:meta])* $variant:ident $({ $($field:ident : $ty:ty),* })? => $alert:ident, $text:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant $({ $(#[allow(missing_docs)] $field: $ty),* })?, )*
        }

        impl $name {
            /// The fatal alert this sends (the table behind [`Cause::alert`]).
            pub(crate) fn alert(&self) -> AlertDescription {
                match self {
                    $( $name::$variant { .. } => causes!(@alert self, $alert), )*
                }
            }
        }

        impl fmt::Display for $name {
            #[allow(unused_variables)]
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant $({ $($field),* })? => write!(f, $text), )*
                }
            }
        }

        impl From<$name> for Fatal {
            fn from(cause: $name) -> Self {
                Fatal(Cause::$cause(cause))
            }
        }
    };
    (@alert $self:ident, Carried) => { $self.carried_alert() };
    (@alert $self:ident, $alert:ident) => { AlertDescription::$alert };
}

causes! {
    /// A rule of the protocol the peer broke.
    Misbehavior for PeerMisbehaved {
        /// A message or record that does not parse as its RFC says; the parser names the
        /// alert (decode_error for framing, illegal_parameter for a refused value, …).
        Malformed { alert: AlertDescription } => Carried, "malformed message",
        /// A record of no content type TLS 1.2 knows (RFC 5246 §6.2.1).
        UnknownContentType => UnexpectedMessage, "unknown record content type",
        /// A record version other than TLS 1.2 after the hellos (RFC 5246 Appendix E.1).
        WrongRecordVersion => ProtocolVersion, "record with a wrong protocol version",
        /// A record longer than 2^14 + 2048 bytes, or plaintext over 2^14 (RFC 5246 §6.2).
        RecordTooLong => RecordOverflow, "record too long",
        /// A record that fails authentication (RFC 5246 §6.2.3.3: bad_record_mac).
        UndecryptableRecord { alert: AlertDescription } => Carried, "record failed to decrypt",
        /// An empty record other than application data (RFC 5246 §6.2.1).
        EmptyRecord => UnexpectedMessage, "empty non-application record",
        /// A run of empty application-data records (a cheap denial of service).
        TooManyEmptyRecords => UnexpectedMessage, "too many empty records",
        /// A run of warning alerts (CVE-2016-8610).
        TooManyWarnings => UnexpectedMessage, "too many warning alerts in a row",
        /// A ChangeCipherSpec record whose length is not 1.
        ChangeCipherSpecLength => UnexpectedMessage, "ChangeCipherSpec record of a length other than 1",
        /// A ChangeCipherSpec where the flow has none (RFC 5246 §7.1).
        UnexpectedChangeCipherSpec => UnexpectedMessage, "unexpected ChangeCipherSpec",
        /// A ChangeCipherSpec before the keys it switches to exist.
        ChangeCipherSpecBeforeKeys => UnexpectedMessage, "ChangeCipherSpec before keys",
        /// A ChangeCipherSpec in the middle of a fragmented handshake message.
        ChangeCipherSpecInsideMessage => UnexpectedMessage, "ChangeCipherSpec inside a fragmented handshake message",
        /// Application data before the handshake finished (RFC 5246 §7.4.9).
        EarlyApplicationData => UnexpectedMessage, "application data before Finished",
        /// A handshake message the flow does not allow here (RFC 5246 §7.3).
        UnexpectedMessage { received: &'static str, expected: &'static str } => UnexpectedMessage, "unexpected {received}, expected {expected}",
        /// A handshake message while the handshake waits for a session lookup.
        MessageWhileSuspended => UnexpectedMessage, "message while a session lookup is pending",
        /// A handshake message after the handshake, other than a renegotiation request.
        MessageAfterHandshake => UnexpectedMessage, "handshake message after the handshake",
        /// Renegotiation requests beyond the bound (each is refused, RFC 5746 §4).
        TooManyRenegotiations => UnexpectedMessage, "too many renegotiation attempts",
        /// A handshake message longer than the configured cap.
        MessageTooLarge => DecodeError, "handshake message too large",
        /// A non-empty renegotiation_info in an initial handshake (RFC 5746 §3.4, §3.6).
        RenegotiationInfoNotEmpty => HandshakeFailure, "non-empty renegotiation_info in initial handshake",
        /// A ClientHello without the null compression method (RFC 5246 §7.4.1.2).
        NoNullCompression => IllegalParameter, "client does not offer null compression",
        /// A point-format list without uncompressed points (RFC 8422 §5.1.2).
        NoUncompressedPoints => IllegalParameter, "the peer does not accept uncompressed points",
        /// A server name that is not an ASCII DNS host name (RFC 6066 §3).
        BadServerName => IllegalParameter, "server name is not an ASCII DNS host name",
        /// An ECDHE public value that is not a point of the group (RFC 8422 §5.11).
        BadKeyShare => IllegalParameter, "bad ECDHE public value",
        /// Resuming an extended-master-secret session without the extension (RFC 7627 §5.3).
        EmsResumptionWithoutExtension => HandshakeFailure, "resumption of an extended-master-secret session without the extension",
        /// Resuming a session without offering its cipher suite (RFC 5246 §7.4.1.2).
        ResumptionWithoutItsSuite => IllegalParameter, "resumption without offering the session's cipher suite",
        /// A Finished whose verify_data is wrong (RFC 5246 §7.4.9).
        BadFinished => DecryptError, "Finished does not verify",
        /// A ServerKeyExchange whose signature does not verify (RFC 8422 §5.4).
        BadKeyExchangeSignature { alert: AlertDescription } => Carried, "ServerKeyExchange signature does not verify",
        /// A server answer to an extension the client did not send (RFC 5246 §7.4.1.4).
        UnsolicitedExtension => UnsupportedExtension, "server answered an extension we did not offer",
        /// A server choice the client did not offer: a suite, group, ALPN protocol,
        /// signature scheme or compression.
        UnofferedChoice { what: &'static str } => IllegalParameter, "server chose a {what} we did not offer",
        /// A ServerHello for another protocol version.
        NotTls12 => ProtocolVersion, "server did not choose TLS 1.2",
        /// A resumption under another suite than the session's.
        ResumedWithAnotherSuite => IllegalParameter, "server resumed with another suite",
        /// A resumption that disagrees with the session about EMS (RFC 7627 §5.3).
        ResumedWithOtherEms => HandshakeFailure, "server resumed with a different extended-master-secret setting",
        /// A Certificate message without a certificate.
        NoCertificate => DecodeError, "server sent no certificate",
        /// A ServerHelloDone with a body.
        ServerHelloDoneBody => DecodeError, "ServerHelloDone with a body",
        /// A CertificateVerify whose signature does not verify over the handshake (RFC 5246
        /// §7.4.8; decrypt_error, §7.2.2), or does not fit the certificate's key.
        BadCertificateVerify { alert: AlertDescription } => Carried, "CertificateVerify does not verify",
        /// A CertificateVerify under a signature scheme the server did not offer in its
        /// CertificateRequest (RFC 5246 §7.4.8).
        CertificateVerifyWithUnofferedScheme => IllegalParameter, "CertificateVerify with a signature scheme the server did not offer",
    }
}

impl Misbehavior {
    fn carried_alert(&self) -> AlertDescription {
        match self {
            Misbehavior::Malformed { alert }
            | Misbehavior::UndecryptableRecord { alert }
            | Misbehavior::BadKeyExchangeSignature { alert }
            | Misbehavior::BadCertificateVerify { alert } => *alert,
            _ => AlertDescription::InternalError,
        }
    }
}

causes! {
    /// What the peer and this endpoint do not have in common.
    Incompatibility for PeerIncompatible {
        /// The client does not offer TLS 1.2.
        NoTls12 => ProtocolVersion, "client does not offer TLS 1.2",
        /// No cipher suite both offer (and a certificate can serve).
        NoCommonSuite => HandshakeFailure, "no cipher suite in common",
        /// No elliptic-curve group both support.
        NoCommonGroup => HandshakeFailure, "no elliptic-curve group in common",
        /// No ALPN protocol both speak (RFC 7301 §3.2).
        NoCommonAlpn => NoApplicationProtocol, "no ALPN protocol in common",
        /// The extended master secret is required and the peer does not use it (RFC 7627).
        NoExtendedMasterSecret => HandshakeFailure, "the peer does not use the extended master secret",
        /// No certificate is for the server name asked for (strict SNI, RFC 6066 §3).
        UnknownServerName => UnrecognizedName, "no certificate for the server name asked for",
        /// The server requires a client certificate and the client sent none (RFC 5246
        /// §7.4.6).
        ClientCertificateRequired => HandshakeFailure, "the client sent no certificate, and one is required",
    }
}

causes! {
    /// Why the peer's certificate was refused (RFC 5280 path validation, by rustls-webpki):
    /// the server's on a client, the client's on a server that asks for one.
    CertificateError for InvalidCertificate {
        /// No chain to a trusted root.
        UnknownIssuer => UnknownCa, "unknown issuer",
        /// Expired, or not valid yet.
        Expired => CertificateExpired, "expired or not yet valid",
        /// Revoked.
        Revoked => CertificateRevoked, "revoked",
        /// Not for the name connected to.
        NotValidForName => BadCertificate, "not valid for the server name",
        /// Not well-formed DER.
        Malformed => DecodeError, "malformed certificate",
        /// Signed with an algorithm we do not verify.
        UnsupportedAlgorithm => UnsupportedCertificate, "unsupported signature algorithm",
        /// Not for this use (a server certificate presented by a client, or the reverse:
        /// RFC 5280 §4.2.1.12 extended key usage).
        WrongUsage => UnsupportedCertificate, "not for this usage (extended key usage)",
        /// Valid, but the server's own policy refused it (RFC 5246 §7.2.2 access_denied:
        /// [`Connection::approve_client`](crate::Connection::approve_client)).
        NotApproved => AccessDenied, "valid, but refused by the server's policy",
        /// Refused for another reason (the verifier's words are in the debug log).
        Other => BadCertificate, "refused by the verifier",
    }
}

causes! {
    /// What failed on this side.
    InternalFailure for Internal {
        /// The random source failed.
        Randomness => InternalError, "randomness failed",
        /// An ephemeral key could not be made.
        KeyGeneration => InternalError, "key generation failed",
        /// Keys could not be derived (PRF, key block, record keys).
        KeyDerivation => InternalError, "key derivation failed",
        /// Our signature could not be made (inline or by the caller's signer).
        Signing => InternalError, "signing failed",
        /// A ticket could not be sealed.
        TicketSealing => InternalError, "ticket sealing failed",
        /// A record could not be sealed.
        RecordSealing => InternalError, "record sealing failed",
        /// One of our own messages could not be encoded (a field out of its RFC range).
        Encoding { field: &'static str } => InternalError, "cannot encode {field}",
        /// The caller answered a request the handshake did not make (a session, a signature,
        /// a config), or a step came out of order.
        OutOfOrder { what: &'static str } => InternalError, "{what}",
        /// A step the flow table allows in a phase that cannot take it: a bug in the
        /// handshake machine, answered with an alert instead of a panic.
        OutOfStep { step: &'static str } => InternalError, "{step} does not fit the handshake's phase",
    }
}

/// A fatal condition found while processing input: why, and so which alert to send.
#[derive(Clone, Debug, PartialEq, Eq)]
// Public in name only (the sealed `Handshake` trait mentions it); unreachable from outside.
pub struct Fatal(pub Cause);

/// An encoder refused our own message: a bug or an impossible configuration.
pub(crate) fn encode_failed(e: crate::codec::EncodeError) -> Fatal {
    InternalFailure::Encoding { field: e.field() }.into()
}

impl From<AlertDescription> for Fatal {
    fn from(alert: AlertDescription) -> Self {
        Misbehavior::Malformed { alert }.into()
    }
}

/// How a handshake resumed a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResumptionKind {
    /// From the server's session cache, by session ID (RFC 5246 §7.3).
    SessionId,
    /// From a session ticket (RFC 5077).
    Ticket,
}

impl fmt::Display for ResumptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResumptionKind::SessionId => "session-id",
            ResumptionKind::Ticket => "ticket",
        })
    }
}

/// Why an offered resumption did not happen (the handshake went on as a full one, or was
/// aborted where RFC 7627 §5.3 says so). Counted by operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResumptionFailure {
    /// The session ID is not in the store.
    UnknownSession,
    /// The ticket names a key the ring does not hold (rotated out, or another fleet's).
    UnknownTicketKey,
    /// The session, or the key that sealed the ticket, has expired.
    Expired,
    /// The ticket failed authentication or is malformed.
    BadTicket,
    /// The session and the new hello disagree about the extended master secret.
    EmsMismatch,
    /// The session's cipher suite is no longer offered or allowed.
    SuiteMismatch,
    /// The session was made for another server name.
    SniMismatch,
    /// The session store could not be asked.
    StoreUnavailable,
    /// (client) The server answered with a full handshake.
    Declined,
    /// The server requires a client certificate and the session was made without one.
    ClientCertificateRequired,
    /// The session's client certificate was verified under other roots than the server
    /// trusts now.
    ClientTrustChanged,
    /// The session's client certificate has expired since.
    ClientCertificateExpired,
    /// The session's client certificate is in a revocation list now.
    ClientCertificateRevoked,
}

impl ResumptionFailure {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ResumptionFailure::UnknownSession => "unknown-session",
            ResumptionFailure::UnknownTicketKey => "unknown-ticket-key",
            ResumptionFailure::Expired => "expired",
            ResumptionFailure::BadTicket => "bad-ticket",
            ResumptionFailure::EmsMismatch => "ems-mismatch",
            ResumptionFailure::SuiteMismatch => "suite-mismatch",
            ResumptionFailure::SniMismatch => "sni-mismatch",
            ResumptionFailure::StoreUnavailable => "store-unavailable",
            ResumptionFailure::Declined => "declined-by-server",
            ResumptionFailure::ClientCertificateRequired => "client-certificate-required",
            ResumptionFailure::ClientTrustChanged => "client-roots-changed",
            ResumptionFailure::ClientCertificateExpired => "client-certificate-expired",
            ResumptionFailure::ClientCertificateRevoked => "client-certificate-revoked",
        }
    }
}

impl fmt::Display for ResumptionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the caller should know about, drained with `next_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; application data may flow.
    HandshakeDone {
        /// `Some` when an earlier session was resumed.
        resumed: Option<ResumptionKind>,
    },
    /// The peer sent close_notify: it will send nothing more.
    PeerClosed,
    /// The peer sent a non-fatal warning alert (e.g. no_renegotiation).
    WarningReceived(AlertDescription),
    /// (server) The session store answered `Pending` for this session ID: the handshake is
    /// suspended until the caller answers with
    /// [`ServerConnection::provide_session`](crate::ServerConnection::provide_session).
    NeedSession {
        /// The session ID the client offered.
        id: smallvec::SmallVec<[u8; 32]>,
    },
    /// (server, with `ServerConfig::offload_signing`) The ServerKeyExchange needs a signature:
    /// sign `message` with the certificate key for `auth` using `scheme` (e.g. on a worker
    /// pool with [`ServerConfig::sign`](crate::ServerConfig::sign), or on a remote key server)
    /// and answer with [`ServerConnection::provide_signature`](crate::ServerConnection::provide_signature).
    NeedSignature {
        /// Which certificate's key signs.
        auth: crate::crypto::suites::AuthKind,
        /// The certificate (chosen by SNI) whose key signs:
        /// `key.key().sign(scheme, &message, &mut out)`.
        key: std::sync::Arc<crate::config::CertifiedKey>,
        /// The signature scheme the client accepted.
        scheme: crate::crypto::sign::SignatureScheme,
        /// The bytes to sign.
        message: Vec<u8>,
    },
    /// An offered resumption did not happen; the handshake continues as a full one.
    ResumptionFailed {
        /// Why.
        reason: ResumptionFailure,
    },
    /// (server, started with
    /// [`ServerConnection::choosing_config`](crate::ServerConnection::choosing_config)) The
    /// ClientHello has arrived: read it with
    /// [`ServerConnection::client_hello`](crate::ServerConnection::client_hello) and go on
    /// with [`ServerConnection::choose_config`](crate::ServerConnection::choose_config).
    ClientHelloReceived,
    /// (server, with [`ClientAuth::with_approval`](crate::ClientAuth::with_approval)) The
    /// client's certificate verified (or, in a resumption, its session's client passed the
    /// checks again): decide by `identity` (also
    /// [`ServerConnection::peer_identity`](crate::ServerConnection::peer_identity)) and answer
    /// with [`Connection::approve_client`](crate::Connection::approve_client). The handshake
    /// waits, sending nothing more, until then.
    NeedClientApproval {
        /// Who the client is.
        identity: Box<crate::client_auth::ClientIdentity>,
    },
    /// The peer tried to renegotiate; we refused with a no_renegotiation warning and the
    /// connection goes on (RFC 5746 §4.2, §4.4).
    RenegotiationRefused,
}
