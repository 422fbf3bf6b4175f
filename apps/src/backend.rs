//! A backend stream: the connection's decrypted bytes spliced both ways with a plaintext
//! backend (TCP or UNIX socket), one backend connection per client connection, as a TLS
//! terminator does. The backend socket is the connection's [`Upstream`], which the driver
//! moves; this handler decides what goes on it and what its end means for the client.
//!
//! * The backend is connected once the handshake is done (a client that never proves it
//!   speaks TLS costs no backend connection), with a PROXY protocol header first if asked.
//! * Half-closes are passed on: the client's close_notify shuts the backend's write side
//!   once everything is written; the backend's end of stream closes the TLS connection with
//!   close_notify once everything is sent.
//! * Truncations are passed on as truncations (RFC 5246 §7.2.1: close_notify only from a
//!   sender that is done): a backend that refuses, does not connect in time, resets, fails
//!   or stays silent ends the client's connection *without* close_notify ([`Flow::Abort`]);
//!   a client whose stream ends without close_notify, or that is cut off, gets its backend
//!   connection reset, not shut.
//! * While the backend owes an answer (the client sent bytes it has not answered yet) the
//!   stream is mid-message: a draining server waits for the answer, and the idle timeout
//!   runs from the first unanswered byte (a silent backend, or a trickling client, is
//!   closed at the timeout; see [`reprise_serve::served`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::proxy::{self, ProxyVersion, TlsFacts};
use reprise_serve::app::{Flow, Handler, HandlerFactory, MessageTimeout, Opened};
use reprise_serve::upstream::{Upstream, UpstreamAddr, UpstreamOptions};

/// While draining, how long a backend stream must have been still before its client is
/// told goodbye ([`Handler::drain_quiet`]): the stream cannot tell where an answer ends, and
/// an answer arriving in pieces (a head, then its body) must not be cut between them.
pub const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// How backend streams behave.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// The backend, its buffers and connect timeout, and where its failures are counted.
    pub upstream: UpstreamOptions,
    /// Send a PROXY protocol header first ([`crate::proxy`]).
    pub proxy_protocol: Option<ProxyVersion>,
}

impl BackendOptions {
    /// Defaults for `addr`: 64 KiB each way, 5 s to connect, no PROXY header.
    pub fn new(addr: UpstreamAddr) -> Self {
        Self {
            upstream: UpstreamOptions::new(addr),
            proxy_protocol: None,
        }
    }
}

/// The handler that splices a connection with its backend: the client's plaintext goes to
/// the connection's [`Upstream`], the upstream's bytes come back as the client's.
#[derive(Debug)]
pub struct BackendStream {
    upstream: Upstream,
    proxy_protocol: Option<ProxyVersion>,
    /// The client's address and the one it connected to, for the PROXY header.
    addresses: (Option<SocketAddr>, Option<SocketAddr>),
}

impl BackendStream {
    /// A stream to the backend of `upstream`, connected once the handshake is done.
    pub fn new(upstream: Arc<UpstreamOptions>, proxy_protocol: Option<ProxyVersion>) -> Self {
        Self {
            upstream: Upstream::new(upstream),
            proxy_protocol,
            addresses: (None, None),
        }
    }

    /// Its upstream (the backend socket's state and buffers).
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }
}

impl Handler for BackendStream {
    fn wants_addresses(&self) -> bool {
        self.proxy_protocol.is_some()
    }

    fn on_addresses(&mut self, peer: Option<SocketAddr>, local: Option<SocketAddr>) {
        self.addresses = (peer, local);
    }

    fn on_open(&mut self, opened: &Opened<'_>) {
        self.upstream.open();
        if let Some(version) = self.proxy_protocol {
            let facts = TlsFacts {
                negotiated: opened.negotiated(),
                resumption_failure: opened.resumption_failure(),
                client_certificates: opened.client_certificates(),
                client_identity: opened.client_identity(),
            };
            let (peer, local) = self.addresses;
            self.upstream
                .send_preamble(&proxy::header(version, peer, local, &facts));
        }
    }

    fn on_data(&mut self, data: &[u8]) {
        self.upstream.send(data);
    }

    /// The client's stream ended without close_notify: the backend connection is reset
    /// (the driver sees [`Upstream::resets_on_close`]), and the client's connection ends
    /// without close_notify too.
    fn on_peer_vanished(&mut self) -> Flow {
        Flow::Abort
    }

    /// A silent backend (the client sent its bytes early and got no answer) is a backend
    /// failure; a trickling client is cut off. Either way the backend connection is reset
    /// and the client's ends without close_notify.
    fn on_message_timeout(&mut self, timeout: MessageTimeout) -> Flow {
        if !timeout.client_trickled {
            self.upstream.check_silent(timeout.waited);
        }
        Flow::Abort
    }

    /// What the client sent still goes to the backend (connected or not yet), then its
    /// write side is shut; the connection closes when the backend has answered. Without a
    /// backend connection, and none to come, there is nothing to wait for.
    fn on_peer_closed(&mut self) -> Flow {
        if self.upstream.finish() {
            Flow::Continue
        } else {
            Flow::Close
        }
    }

    fn poll_output(&mut self, out: &mut Vec<u8>, room: usize) -> Flow {
        self.upstream.take(out, room)
    }

    fn wants_data(&self) -> bool {
        self.upstream.has_room()
    }

    /// Bytes on their way either way, a connect pending, or client bytes the backend has
    /// not answered yet: a draining server lets them finish, and they must move within the
    /// idle timeout.
    fn is_mid_message(&self) -> bool {
        self.upstream.is_busy()
    }

    fn drain_quiet(&self) -> Duration {
        DRAIN_QUIET
    }

    fn upstream(&mut self) -> Option<&mut Upstream> {
        Some(&mut self.upstream)
    }
}

/// Makes a [`BackendStream`] per connection.
#[derive(Clone, Debug)]
pub struct BackendFactory {
    upstream: Arc<UpstreamOptions>,
    proxy_protocol: Option<ProxyVersion>,
}

impl BackendFactory {
    /// Streams with `options`.
    pub fn new(options: BackendOptions) -> Self {
        Self {
            upstream: Arc::new(options.upstream),
            proxy_protocol: options.proxy_protocol,
        }
    }
}

impl HandlerFactory for BackendFactory {
    type Handler = BackendStream;

    fn new_handler(&self) -> BackendStream {
        BackendStream::new(self.upstream.clone(), self.proxy_protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_serve::upstream::UpstreamState;

    fn stream(proxy_protocol: Option<ProxyVersion>) -> BackendStream {
        let mut options = UpstreamOptions::new("127.0.0.1:9".parse().unwrap());
        options.buffer = 8;
        BackendStream::new(Arc::new(options), proxy_protocol)
    }

    fn opened(s: &mut BackendStream) {
        let negotiated = reprise::Negotiated::default();
        let no_wake = || reprise_serve::app::Wake::new(|| {});
        s.on_open(&Opened::new(&negotiated, &no_wake));
    }

    #[test]
    fn it_connects_after_the_handshake_and_sends_the_proxy_header_first() {
        let mut s = stream(Some(ProxyVersion::V1));
        assert!(s.wants_addresses());
        s.on_addresses(
            Some("192.0.2.1:5000".parse().unwrap()),
            Some("192.0.2.2:443".parse().unwrap()),
        );
        assert_eq!(s.upstream().state(), UpstreamState::Idle);
        opened(&mut s);
        let upstream = Handler::upstream(&mut s).unwrap();
        assert!(upstream.wants_connect().is_some());
        upstream.connecting(std::time::Instant::now());
        upstream.connected();
        s.on_data(b"GET /");
        let sent = s.upstream().output().to_vec();
        assert!(
            sent.starts_with(b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 443\r\n"),
            "{sent:?}"
        );
        assert!(sent.ends_with(b"GET /"));
        assert!(s.is_mid_message(), "the request is unanswered");
    }

    #[test]
    fn a_silent_backend_fails_and_a_trickling_client_does_not_blame_it() {
        for trickled in [false, true] {
            let mut s = stream(None);
            opened(&mut s);
            let upstream = Handler::upstream(&mut s).unwrap();
            upstream.connecting(std::time::Instant::now());
            upstream.connected();
            s.on_data(b"GET /");
            Handler::upstream(&mut s).unwrap().wrote(5);
            let timeout = MessageTimeout {
                waited: Duration::from_secs(30),
                client_trickled: trickled,
            };
            assert_eq!(s.on_message_timeout(timeout), Flow::Abort);
            assert_eq!(s.upstream().failure().is_some(), !trickled);
        }
    }
}
