//! The steps both roles take alike once the master secret is known (RFC 5246 §7.1, §7.4.9):
//! keying the connection, ChangeCipherSpec and Finished, sent or received. Each role's
//! machine hands these steps here, so they are written once.

use std::sync::Arc;

use crate::codec::Finished;
use crate::conn::Core;
use crate::crypto::prf::{self, MasterSecret};
use crate::crypto::suites::CipherSuite;
use crate::error::{encode_failed, Fatal, InternalFailure, Misbehavior};
use crate::handshake::flow::Role;
use crate::handshake::keys::install_keys;
use crate::handshake::transcript::RunningHash;
use crate::handshake::Received;
use crate::keylog::KeyLog;

/// The handshake from the moment the master secret is known: a full handshake's from the
/// ClientKeyExchange on, a resumption's from its hellos on.
pub(crate) struct Keyed {
    pub(crate) suite: &'static CipherSuite,
    pub(crate) master_secret: MasterSecret,
    /// Every handshake message so far, hashed with the suite's PRF hash.
    pub(crate) transcript: RunningHash,
    /// Whether one Finished has been sent or received: the second ends the handshake.
    first_finished_done: bool,
}

/// The two hello randoms (RFC 5246 §7.4.1.2-7.4.1.3), which key both directions.
pub(crate) struct Randoms<'a> {
    pub(crate) client: &'a [u8; 32],
    pub(crate) server: &'a [u8; 32],
}

impl Keyed {
    /// The master secret is known (resumed, or computed from the key exchange): log it if
    /// asked (SSLKEYLOGFILE's `CLIENT_RANDOM` line), key the PRF and set the pending ciphers
    /// each ChangeCipherSpec switches to (RFC 5246 §6.3).
    pub(crate) fn start(
        core: &mut Core,
        role: Role,
        suite: &'static CipherSuite,
        master_secret: MasterSecret,
        transcript: RunningHash,
        randoms: Randoms<'_>,
        key_log: Option<&Arc<dyn KeyLog>>,
    ) -> Result<Self, Fatal> {
        if let Some(log) = key_log {
            log.log("CLIENT_RANDOM", randoms.client, master_secret.as_bytes());
        }
        install_keys(
            core,
            role,
            suite,
            &master_secret,
            randoms.client,
            randoms.server,
        )?;
        Ok(Self {
            suite,
            master_secret,
            transcript,
            first_finished_done: false,
        })
    }

    /// RFC 5246 §7.1: ours switches the write side to the new keys, the peer's the read side.
    pub(crate) fn change_cipher_spec(
        &mut self,
        core: &mut Core,
        received: Option<Received<'_>>,
    ) -> Result<(), Fatal> {
        match received {
            Some(_) => core.receive_change_cipher_spec(),
            None => core.send_change_cipher_spec(),
        }
    }

    /// RFC 5246 §7.4.9: `verify_data` = PRF(master_secret, finished_label,
    /// Hash(handshake_messages))[0..12]. Ours (`received` is `None`) is appended to the
    /// flight; the peer's is checked in constant time, a mismatch being decrypt_error. The
    /// first joins the transcript, which the other side's Finished then covers; the second is
    /// the handshake's last message, so the hash it covers is the final one.
    pub(crate) fn finished(
        &mut self,
        core: &mut Core,
        role: Role,
        received: Option<Received<'_>>,
    ) -> Result<(), Fatal> {
        let prf_failed = |_| Fatal::from(InternalFailure::KeyDerivation);
        let key = core.prf_key().ok_or_else(|| {
            Fatal::from(InternalFailure::OutOfOrder {
                what: "Finished before the keys",
            })
        })?;
        let last = std::mem::replace(&mut self.first_finished_done, true);
        let hash = if last {
            self.transcript.finish()
        } else {
            self.transcript.current()
        };
        match received {
            Some(message) => {
                let theirs = Finished::parse(message.body)?;
                let expected =
                    prf::verify_data_with(key, role.peer(), hash.as_ref()).map_err(prf_failed)?;
                if !prf::verify_data_matches(&expected, theirs.verify_data) {
                    return Err(Misbehavior::BadFinished.into());
                }
                if !last {
                    self.transcript.add(message.raw);
                }
            }
            None => {
                let ours = prf::verify_data_with(key, role, hash.as_ref()).map_err(prf_failed)?;
                let start = core.flight().len();
                Finished { verify_data: &ours }
                    .encode(core.flight())
                    .map_err(encode_failed)?;
                if !last {
                    self.transcript.add(&core.flight()[start..]);
                }
            }
        }
        if last {
            // The handshake is over: nothing is keyed with the master secret any more.
            core.forget_prf_key();
        }
        Ok(())
    }
}
