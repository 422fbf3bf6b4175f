//! In TLS 1.2 an ECDSA code point names the hash only (RFC 5246 §7.4.1.4.1): a P-256 key signs
//! with SHA-384 or SHA-512 when the client asks, a P-384 key with SHA-256, and the client side
//! verifies every pair.

use reprise::internal::verify::verify_signature;
use reprise::CertifiedKey;
use reprise::SignatureScheme;

#[test]
fn every_ecdsa_curve_signs_with_every_hash_and_verifies() {
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let certified = CertifiedKey::new(vec![cert.der().to_vec()], &key.serialize_der()).unwrap();
        assert_eq!(
            certified.key().schemes(),
            [
                SignatureScheme::ECDSA_SHA512,
                SignatureScheme::ECDSA_SHA384,
                SignatureScheme::ECDSA_SHA256
            ],
            "the strongest first"
        );
        for scheme in certified.key().schemes() {
            let message = b"client random, server random, ECDHE parameters";
            let mut signature = Vec::new();
            certified
                .key()
                .sign(*scheme, message, &mut signature)
                .unwrap();
            verify_signature(cert.der(), *scheme, message, &signature)
                .unwrap_or_else(|a| panic!("{alg:?} {}: {a:?}", scheme.name()));
            // And it is a signature of this message only.
            assert!(verify_signature(cert.der(), *scheme, b"another message", &signature).is_err());
        }
    }
}
