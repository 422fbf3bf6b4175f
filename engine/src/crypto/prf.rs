//! TLS 1.2 PRF (RFC 5246 §5). Placeholder.
