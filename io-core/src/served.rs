//! A served connection's records: the engine's events handled and application data handed to
//! the connection's handler, the same way on every driver.

use std::sync::Arc;

use reprise::{Event, ServerConfig, ServerConnection};

use crate::app::{AppAction, Handler};
use crate::suspend::{fetch_session, sign_for, ReplyTo, SignerPool};

/// What [`feed`] did with a connection's bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// Bytes consumed from the front (whole records); the rest waits for more.
    pub consumed: usize,
    /// The connection failed (the alert is queued).
    pub failed: bool,
    /// The handshake completed: the connection is open (the handler was told).
    pub opened: bool,
}

/// What a worker lends [`feed`]: the configuration, the signer pool, the time, and scratch
/// space for the handler's answers.
pub struct Feeder<'a> {
    /// The engine configuration (its session store and keys).
    pub config: &'a Arc<ServerConfig>,
    /// Signer threads, if signing is offloaded.
    pub signer: Option<&'a SignerPool>,
    /// Seconds since the epoch, for the engine.
    pub now_secs: u64,
    /// Scratch space for the handler's answers.
    pub app_out: &'a mut Vec<u8>,
}

/// Feeds the whole records at the front of `data` to a connection's engine, stopping at a
/// partial record, a suspension, a failure or a close. For each record it handles the
/// engine's events: tells the handler when the handshake is done, starts the session
/// lookups and signatures the engine suspends for (each reply goes through a fresh
/// `reply_to()`), answers the peer's close_notify with ours (RFC 5246 §7.2.1, setting
/// `closing`); and it hands application data to the handler, queueing its answer (and
/// close_notify, setting `closing`, when the handler asks to close). Records are decrypted
/// in place in `data`.
pub fn feed<H: Handler>(
    tls: &mut ServerConnection,
    app: &mut H,
    data: &mut [u8],
    closing: &mut bool,
    env: &mut Feeder<'_>,
    mut reply_to: impl FnMut() -> ReplyTo,
) -> Fed {
    let mut fed = Fed::default();
    while fed.consumed < data.len() && !*closing && !tls.is_suspended() {
        let start = fed.consumed;
        let receipt = match tls.receive(&mut data[start..], env.now_secs) {
            Ok(r) => r,
            Err(_) => {
                fed.failed = true;
                break;
            }
        };
        while let Some(event) = tls.next_event() {
            match event {
                Event::HandshakeDone { .. } => {
                    fed.opened = true;
                    app.on_handshake(tls.negotiated());
                }
                Event::NeedSession { id } => {
                    fetch_session(env.config, &id, env.now_secs, reply_to());
                }
                Event::NeedSignature {
                    auth,
                    scheme,
                    message,
                } => sign_for(env.signer, env.config, auth, scheme, message, reply_to()),
                Event::PeerClosed => {
                    tls.close();
                    *closing = true;
                }
                _ => {}
            }
        }
        if !receipt.plaintext.is_empty() && !*closing {
            let plain = start + receipt.plaintext.start..start + receipt.plaintext.end;
            match deliver(tls, app, &data[plain], env.app_out) {
                Ok(close) => *closing |= close,
                Err(_) => {
                    fed.failed = true;
                    break;
                }
            }
        }
        fed.consumed += receipt.consumed;
        if receipt.consumed == 0 {
            break;
        }
    }
    fed
}

/// Hands a record's decrypted application data to the connection's handler and queues the
/// handler's answer (`out` is scratch space for it). `Ok(true)` when the handler asked to
/// close (close_notify is then queued); the engine's error when the answer cannot be
/// queued.
fn deliver<H: Handler>(
    tls: &mut ServerConnection,
    app: &mut H,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, reprise::Error> {
    out.clear();
    let action = app.on_data(plaintext, out);
    if !out.is_empty() {
        tls.send(out)?;
    }
    if action == AppAction::Close {
        tls.close();
        return Ok(true);
    }
    Ok(false)
}
