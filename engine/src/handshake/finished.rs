//! The Finished message both roles send and check (RFC 5246 §7.4.9): `verify_data` =
//! PRF(master_secret, finished_label, Hash(handshake_messages))[0..12].

use crate::codec::{AlertDescription, Finished};
use crate::conn::Core;
use crate::crypto::prf::{self, PrfKey};
use crate::error::{encode_failed, fatal, Fatal};
use crate::handshake::transcript::Transcript;

fn internal() -> Fatal {
    fatal(
        AlertDescription::InternalError,
        "handshake state inconsistent",
    )
}

/// Appends our Finished, over the transcript so far, to the flight and the transcript.
pub(crate) fn write(
    core: &mut Core,
    transcript: &mut Transcript,
    key: &PrfKey,
    from_client: bool,
) -> Result<(), Fatal> {
    let hash = transcript.current().ok_or_else(internal)?;
    let ours = prf::verify_data_with(key, from_client, hash.as_ref()).map_err(|_| internal())?;
    let start = core.flight().len();
    Finished { verify_data: &ours }
        .encode(core.flight())
        .map_err(encode_failed)?;
    transcript.add(&core.flight()[start..]);
    Ok(())
}

/// Checks the peer's Finished (`body`; `raw` with its header) against the transcript so far,
/// in constant time, then adds it to the transcript. A mismatch is decrypt_error.
pub(crate) fn check(
    transcript: &mut Transcript,
    key: &PrfKey,
    from_client: bool,
    body: &[u8],
    raw: &[u8],
) -> Result<(), Fatal> {
    let finished = Finished::parse(body)?;
    let hash = transcript.current().ok_or_else(internal)?;
    let expected =
        prf::verify_data_with(key, from_client, hash.as_ref()).map_err(|_| internal())?;
    if !prf::verify_data_matches(&expected, finished.verify_data) {
        let reason = if from_client {
            "client Finished does not verify"
        } else {
            "server Finished does not verify"
        };
        return Err(fatal(AlertDescription::DecryptError, reason));
    }
    transcript.add(raw);
    Ok(())
}
