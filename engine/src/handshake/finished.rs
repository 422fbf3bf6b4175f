//! The Finished message both roles send and check (RFC 5246 §7.4.9): `verify_data` =
//! PRF(master_secret, finished_label, Hash(handshake_messages))[0..12].

use core::ops::Range;

use crate::codec::Finished;
use crate::conn::Core;
use crate::crypto::prf::{self, PrfKey};
use crate::error::{encode_failed, Fatal, InternalFailure, Misbehavior};
use crate::handshake::transcript::HandshakeHash;

fn prf_failed(_: prf::PrfError) -> Fatal {
    Fatal::from(InternalFailure::KeyDerivation)
}

/// Appends our Finished, over the transcript hash so far, to the flight; returns where it
/// lies in the flight, for the caller's transcript.
pub(crate) fn write(
    core: &mut Core,
    hash: &HandshakeHash,
    key: &PrfKey,
    from_client: bool,
) -> Result<Range<usize>, Fatal> {
    let ours = prf::verify_data_with(key, from_client, hash.as_ref()).map_err(prf_failed)?;
    let start = core.flight().len();
    Finished { verify_data: &ours }
        .encode(core.flight())
        .map_err(encode_failed)?;
    Ok(start..core.flight().len())
}

/// Checks the peer's Finished (`body`) against the transcript hash before it, in constant
/// time. A mismatch is decrypt_error.
pub(crate) fn check(
    hash: &HandshakeHash,
    key: &PrfKey,
    from_client: bool,
    body: &[u8],
) -> Result<(), Fatal> {
    let finished = Finished::parse(body)?;
    let expected = prf::verify_data_with(key, from_client, hash.as_ref()).map_err(prf_failed)?;
    if !prf::verify_data_matches(&expected, finished.verify_data) {
        return Err(Misbehavior::BadFinished.into());
    }
    Ok(())
}
