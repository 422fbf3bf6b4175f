//! Alert protocol (RFC 5246 §7.2).

use core::fmt;

/// Alert level (RFC 5246 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertLevel {
    /// `warning(1)`
    Warning,
    /// `fatal(2)`
    Fatal,
}

impl AlertLevel {
    /// Decodes a level byte; values other than 1 and 2 give `None`.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Warning),
            2 => Some(Self::Fatal),
            _ => None,
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Warning => 1,
            Self::Fatal => 2,
        }
    }
}

macro_rules! alert_descriptions {
    ($( $(#[$doc:meta])* $variant:ident = $value:literal => $name:literal, )*) => {
        /// Alert description (RFC 5246 §7.2, plus RFC 7507, 5746/5246 `no_renegotiation`,
        /// RFC 6066 and RFC 7301 codes).
        ///
        /// Every parsing function of the codec returns `Err(AlertDescription)`
        /// naming the alert the RFCs require the receiver to send.
        /// Codes this enum does not know are kept as [`AlertDescription::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum AlertDescription {
            $( $(#[$doc])* $variant, )*
            /// A code not listed above (kept so it can be logged).
            Unknown(u8),
        }

        impl AlertDescription {
            /// Decodes a description byte; never fails.
            pub const fn from_u8(v: u8) -> Self {
                match v {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }

            /// The wire value.
            pub const fn to_u8(self) -> u8 {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Unknown(v) => v,
                }
            }

            #[doc(hidden)] // unstable: Display gives the name
            /// The RFC name in snake_case, or `None` for [`AlertDescription::Unknown`].
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => Some($name), )*
                    Self::Unknown(_) => None,
                }
            }
        }
    };
}

alert_descriptions! {
    /// `close_notify(0)`
    CloseNotify = 0 => "close_notify",
    /// `unexpected_message(10)`
    UnexpectedMessage = 10 => "unexpected_message",
    /// `bad_record_mac(20)`
    BadRecordMac = 20 => "bad_record_mac",
    /// `record_overflow(22)`
    RecordOverflow = 22 => "record_overflow",
    /// `handshake_failure(40)`
    HandshakeFailure = 40 => "handshake_failure",
    /// `bad_certificate(42)`
    BadCertificate = 42 => "bad_certificate",
    /// `unsupported_certificate(43)`
    UnsupportedCertificate = 43 => "unsupported_certificate",
    /// `certificate_revoked(44)`
    CertificateRevoked = 44 => "certificate_revoked",
    /// `certificate_expired(45)`
    CertificateExpired = 45 => "certificate_expired",
    /// `certificate_unknown(46)`
    CertificateUnknown = 46 => "certificate_unknown",
    /// `illegal_parameter(47)`
    IllegalParameter = 47 => "illegal_parameter",
    /// `unknown_ca(48)`
    UnknownCa = 48 => "unknown_ca",
    /// `access_denied(49)`
    AccessDenied = 49 => "access_denied",
    /// `decode_error(50)`
    DecodeError = 50 => "decode_error",
    /// `decrypt_error(51)`
    DecryptError = 51 => "decrypt_error",
    /// `protocol_version(70)`
    ProtocolVersion = 70 => "protocol_version",
    /// `insufficient_security(71)`
    InsufficientSecurity = 71 => "insufficient_security",
    /// `internal_error(80)`
    InternalError = 80 => "internal_error",
    /// `inappropriate_fallback(86)` (RFC 7507)
    InappropriateFallback = 86 => "inappropriate_fallback",
    /// `user_canceled(90)`
    UserCanceled = 90 => "user_canceled",
    /// `no_renegotiation(100)`
    NoRenegotiation = 100 => "no_renegotiation",
    /// `unsupported_extension(110)`
    UnsupportedExtension = 110 => "unsupported_extension",
    /// `unrecognized_name(112)` (RFC 6066)
    UnrecognizedName = 112 => "unrecognized_name",
    /// `no_application_protocol(120)` (RFC 7301)
    NoApplicationProtocol = 120 => "no_application_protocol",
}

impl fmt::Display for AlertDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown_alert({})", self.to_u8()),
        }
    }
}

impl std::error::Error for AlertDescription {}

/// A complete alert message: the two-byte payload of an Alert record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alert {
    /// Severity.
    pub level: AlertLevel,
    /// What went wrong.
    pub description: AlertDescription,
}

impl Alert {
    /// Length of an encoded alert.
    pub const LEN: usize = 2;

    /// A fatal alert with the given description.
    pub const fn fatal(description: AlertDescription) -> Self {
        Self {
            level: AlertLevel::Fatal,
            description,
        }
    }

    /// A warning alert with the given description.
    pub const fn warning(description: AlertDescription) -> Self {
        Self {
            level: AlertLevel::Warning,
            description,
        }
    }

    /// Parses exactly two bytes.
    ///
    /// Errors: any length other than 2 → `decode_error`; a level byte other
    /// than 1 or 2 → `illegal_parameter` (well-framed but out-of-range value).
    /// Unknown description codes are accepted as [`AlertDescription::Unknown`].
    pub fn parse(bytes: &[u8]) -> Result<Alert, AlertDescription> {
        match bytes {
            [level, description] => Ok(Alert {
                level: AlertLevel::from_u8(*level).ok_or(AlertDescription::IllegalParameter)?,
                description: AlertDescription::from_u8(*description),
            }),
            _ => Err(AlertDescription::DecodeError),
        }
    }

    /// Encodes the two-byte payload.
    pub const fn encode(&self) -> [u8; 2] {
        [self.level.to_u8(), self.description.to_u8()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_codes_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(AlertDescription::from_u8(v).to_u8(), v);
        }
        assert_eq!(AlertDescription::from_u8(50), AlertDescription::DecodeError);
        assert_eq!(AlertDescription::from_u8(1), AlertDescription::Unknown(1));
        assert_eq!(AlertDescription::DecodeError.to_string(), "decode_error");
        assert_eq!(
            AlertDescription::NoApplicationProtocol.to_string(),
            "no_application_protocol"
        );
        assert_eq!(AlertDescription::Unknown(7).to_string(), "unknown_alert(7)");
    }

    #[test]
    fn alert_round_trip_and_errors() {
        let a = Alert::fatal(AlertDescription::HandshakeFailure);
        assert_eq!(a.encode(), [2, 40]);
        assert_eq!(Alert::parse(&a.encode()), Ok(a));
        let w = Alert::warning(AlertDescription::CloseNotify);
        assert_eq!(Alert::parse(&[1, 0]), Ok(w));
        assert_eq!(Alert::parse(&[]), Err(AlertDescription::DecodeError));
        assert_eq!(Alert::parse(&[2]), Err(AlertDescription::DecodeError));
        assert_eq!(
            Alert::parse(&[2, 40, 0]),
            Err(AlertDescription::DecodeError)
        );
        assert_eq!(
            Alert::parse(&[3, 40]),
            Err(AlertDescription::IllegalParameter)
        );
        assert_eq!(
            Alert::parse(&[2, 200]).map(|a| a.description),
            Ok(AlertDescription::Unknown(200))
        );
    }

    #[test]
    fn vector_alert_plaintext() {
        // Decrypted close_notify from "The Illustrated TLS 1.2 Connection":
        // the alert is followed by the CBC record's MAC and padding.
        let plain = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors/data/illustrated-tls12/caps/clientalertplain"
        ))
        .unwrap();
        let alert = Alert::parse(plain.get(..2).unwrap()).unwrap();
        assert_eq!(alert, Alert::warning(AlertDescription::CloseNotify));
    }
}
