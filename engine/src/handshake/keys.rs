//! Key block to record ciphers (RFC 5246 §6.3).

use crate::conn::Core;
use crate::crypto::prf::{self, MasterSecret};
use crate::crypto::suites::CipherSuite;
use crate::error::{Fatal, InternalFailure};
use crate::handshake::flow::Role;
use crate::record::RecordCipher;

/// Keys the PRF with the master secret (kept on `core` for both Finished messages), derives
/// the key block and sets `role`'s pending read and write ciphers on `core`.
pub(crate) fn install_keys(
    core: &mut Core,
    role: Role,
    suite: &'static CipherSuite,
    master_secret: &MasterSecret,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<(), Fatal> {
    let aead = suite.aead;
    let block = prf::AeadKeyBlock::derive_with(
        core.key_prf(suite.hash, master_secret),
        client_random,
        server_random,
        aead.key_len(),
        aead.fixed_iv_len(),
    )
    .map_err(|_| Fatal::from(InternalFailure::KeyDerivation))?;
    let derived = |_| Fatal::from(InternalFailure::KeyDerivation);
    let client = RecordCipher::new(aead, block.client_write_key(), block.client_write_iv())
        .map_err(derived)?;
    let server = RecordCipher::new(aead, block.server_write_key(), block.server_write_iv())
        .map_err(derived)?;
    let (rx, tx) = match role {
        Role::Client => (server, client),
        Role::Server => (client, server),
    };
    core.pending_rx = Some(rx);
    core.pending_tx = Some(tx);
    Ok(())
}

/// The master secret from the ECDHE pre-master secret: RFC 7627 §4 (extended, over the session
/// hash up to and including ClientKeyExchange) or RFC 5246 §8.1.
pub(crate) fn master_secret(
    suite: &'static CipherSuite,
    extended: bool,
    session_hash: &crate::handshake::transcript::HandshakeHash,
    pre_master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<MasterSecret, Fatal> {
    if extended {
        prf::extended_master_secret(suite.hash, pre_master, session_hash.as_ref())
    } else {
        prf::master_secret(suite.hash, pre_master, client_random, server_random)
    }
    .map_err(|_| Fatal::from(InternalFailure::KeyDerivation))
}
