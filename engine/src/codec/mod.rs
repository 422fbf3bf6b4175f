//! Wire formats (RFC 5246 §6, §7). Placeholder until the codec lands.
