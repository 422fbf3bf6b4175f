//! The handshake shapes of RFC 5246 §7.3 and RFC 5077 §3.1 as data, and the single place
//! ([`Flow::expect`]) that decides which message may come next.
//!
//! Every shape begins `ClientHello, ServerHello`; the server picks the shape while answering
//! the ClientHello and the client learns it from the ServerHello, so a flow starts on the
//! common prefix and [`Flow::choose`] fixes the rest before anything diverges.

use core::fmt;

/// A party to the handshake: who sends a message, and which end a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The client.
    Client,
    /// The server.
    Server,
}

impl Role {
    /// The other party.
    pub const fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// A handshake-level message (ChangeCipherSpec is its own record type but sits in the flow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// ClientHello (RFC 5246 §7.4.1.2).
    ClientHello,
    /// ServerHello (§7.4.1.3).
    ServerHello,
    /// Certificate (§7.4.2).
    Certificate,
    /// ServerKeyExchange (§7.4.3).
    ServerKeyExchange,
    /// CertificateRequest (§7.4.4).
    CertificateRequest,
    /// ServerHelloDone (§7.4.5).
    ServerHelloDone,
    /// ClientKeyExchange (§7.4.7).
    ClientKeyExchange,
    /// CertificateVerify (§7.4.8).
    CertificateVerify,
    /// NewSessionTicket (RFC 5077 §3.3).
    NewSessionTicket,
    /// ChangeCipherSpec (§7.1).
    ChangeCipherSpec,
    /// Finished (§7.4.9).
    Finished,
}

impl Msg {
    /// The message's name, as the RFCs write it.
    pub const fn name(self) -> &'static str {
        match self {
            ClientHello => "ClientHello",
            ServerHello => "ServerHello",
            Certificate => "Certificate",
            ServerKeyExchange => "ServerKeyExchange",
            CertificateRequest => "CertificateRequest",
            ServerHelloDone => "ServerHelloDone",
            ClientKeyExchange => "ClientKeyExchange",
            CertificateVerify => "CertificateVerify",
            NewSessionTicket => "NewSessionTicket",
            ChangeCipherSpec => "ChangeCipherSpec",
            Finished => "Finished",
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One message of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// Who sends it.
    pub from: Role,
    /// What it is.
    pub msg: Msg,
}

const fn c(msg: Msg) -> Step {
    Step {
        from: Role::Client,
        msg,
    }
}
const fn s(msg: Msg) -> Step {
    Step {
        from: Role::Server,
        msg,
    }
}

use Msg::*;

const FULL: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(Certificate),
    s(ServerKeyExchange),
    s(ServerHelloDone),
    c(ClientKeyExchange),
    c(ChangeCipherSpec),
    c(Finished),
    s(ChangeCipherSpec),
    s(Finished),
];

const FULL_WITH_TICKET: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(Certificate),
    s(ServerKeyExchange),
    s(ServerHelloDone),
    c(ClientKeyExchange),
    c(ChangeCipherSpec),
    c(Finished),
    s(NewSessionTicket),
    s(ChangeCipherSpec),
    s(Finished),
];

// RFC 5246 §7.3 figure 1 with client authentication: the server asks (§7.4.4), the client
// answers with its chain (§7.4.6) and proves its key (§7.4.8).
const MUTUAL: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(Certificate),
    s(ServerKeyExchange),
    s(CertificateRequest),
    s(ServerHelloDone),
    c(Certificate),
    c(ClientKeyExchange),
    c(CertificateVerify),
    c(ChangeCipherSpec),
    c(Finished),
    s(ChangeCipherSpec),
    s(Finished),
];

const MUTUAL_WITH_TICKET: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(Certificate),
    s(ServerKeyExchange),
    s(CertificateRequest),
    s(ServerHelloDone),
    c(Certificate),
    c(ClientKeyExchange),
    c(CertificateVerify),
    c(ChangeCipherSpec),
    c(Finished),
    s(NewSessionTicket),
    s(ChangeCipherSpec),
    s(Finished),
];

// Asked, the client has no certificate: an empty Certificate and no CertificateVerify
// (§7.4.6, §7.4.8), which only a server that makes client certificates optional accepts.
const ASKED_NONE_GIVEN: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(Certificate),
    s(ServerKeyExchange),
    s(CertificateRequest),
    s(ServerHelloDone),
    c(Certificate),
    c(ClientKeyExchange),
    c(ChangeCipherSpec),
    c(Finished),
    s(ChangeCipherSpec),
    s(Finished),
];

const ASKED_NONE_GIVEN_WITH_TICKET: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(Certificate),
    s(ServerKeyExchange),
    s(CertificateRequest),
    s(ServerHelloDone),
    c(Certificate),
    c(ClientKeyExchange),
    c(ChangeCipherSpec),
    c(Finished),
    s(NewSessionTicket),
    s(ChangeCipherSpec),
    s(Finished),
];

const RESUME: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(ChangeCipherSpec),
    s(Finished),
    c(ChangeCipherSpec),
    c(Finished),
];

const RESUME_TICKET_RENEWED: &[Step] = &[
    c(ClientHello),
    s(ServerHello),
    s(NewSessionTicket),
    s(ChangeCipherSpec),
    s(Finished),
    c(ChangeCipherSpec),
    c(Finished),
];

/// A handshake shape: which messages, from whom, in what order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Full handshake, no ticket issued (2 round trips).
    Full,
    /// Full handshake in which the server issues a ticket (RFC 5077 §3.1, figure 1).
    FullWithTicket,
    /// Abbreviated handshake resuming a session ID from the server's cache (§7.3, 1 RTT).
    ResumeSessionId,
    /// Abbreviated handshake resuming a ticket without issuing a new one (RFC 5077 §3.1 fig. 2).
    ResumeTicket,
    /// Abbreviated handshake resuming a ticket and renewing it (RFC 5077 §3.1 fig. 2 with
    /// NewSessionTicket).
    ResumeTicketRenewed,
    /// Full handshake in which the client authenticates with a certificate (RFC 5246 §7.3).
    Mutual,
    /// [`Shape::Mutual`] in which the server issues a ticket (carrying the client's
    /// identity, RFC 5077 §4).
    MutualWithTicket,
    /// Full handshake in which the server asked for a certificate and the client sent none
    /// (an empty Certificate, no CertificateVerify).
    AskedNoneGiven,
    /// [`Shape::AskedNoneGiven`] in which the server issues a ticket.
    AskedNoneGivenWithTicket,
}

impl Shape {
    /// All shapes.
    pub const ALL: [Shape; 9] = [
        Shape::Full,
        Shape::FullWithTicket,
        Shape::ResumeSessionId,
        Shape::ResumeTicket,
        Shape::ResumeTicketRenewed,
        Shape::Mutual,
        Shape::MutualWithTicket,
        Shape::AskedNoneGiven,
        Shape::AskedNoneGivenWithTicket,
    ];

    /// The message sequence.
    pub const fn steps(self) -> &'static [Step] {
        match self {
            Shape::Full => FULL,
            Shape::FullWithTicket => FULL_WITH_TICKET,
            Shape::ResumeSessionId | Shape::ResumeTicket => RESUME,
            Shape::ResumeTicketRenewed => RESUME_TICKET_RENEWED,
            Shape::Mutual => MUTUAL,
            Shape::MutualWithTicket => MUTUAL_WITH_TICKET,
            Shape::AskedNoneGiven => ASKED_NONE_GIVEN,
            Shape::AskedNoneGivenWithTicket => ASKED_NONE_GIVEN_WITH_TICKET,
        }
    }

    /// True for the abbreviated shapes.
    pub const fn is_resumption(self) -> bool {
        matches!(
            self,
            Shape::ResumeSessionId | Shape::ResumeTicket | Shape::ResumeTicketRenewed
        )
    }

    /// True for the shapes in which the server asks for the client's certificate.
    pub const fn asks_for_certificate(self) -> bool {
        matches!(
            self,
            Shape::Mutual
                | Shape::MutualWithTicket
                | Shape::AskedNoneGiven
                | Shape::AskedNoneGivenWithTicket
        )
    }

    /// Whether the server sends a NewSessionTicket in this shape (and so acknowledges the
    /// client's SessionTicket extension in its ServerHello, RFC 5077 §3.2).
    pub fn issues_ticket(self) -> bool {
        self.steps().contains(&s(NewSessionTicket))
    }

    /// The shape the client's empty Certificate turns an asking shape into (the same
    /// messages without the CertificateVerify).
    pub const fn without_client_certificate(self) -> Shape {
        match self {
            Shape::Mutual => Shape::AskedNoneGiven,
            Shape::MutualWithTicket => Shape::AskedNoneGivenWithTicket,
            other => other,
        }
    }

    /// Number of TLS round trips before the client may send application data: the number of
    /// server flights (maximal runs of server messages) it waits for. In a full handshake it
    /// waits for the server's Finished; in an abbreviated one it sends data with its own.
    pub fn round_trips(self) -> usize {
        let steps = self.steps();
        steps
            .iter()
            .enumerate()
            .filter(|(i, step)| {
                step.from == Role::Server && (*i == 0 || steps[*i - 1].from == Role::Client)
            })
            .count()
    }
}

/// Where a connection is in its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    shape: Shape,
    chosen: bool,
    pos: usize,
}

/// Index at which shapes start to differ: they share `ClientHello, ServerHello`.
const COMMON_PREFIX: usize = 2;

impl Default for Flow {
    fn default() -> Self {
        Self::new()
    }
}

impl Flow {
    /// A flow before the ClientHello.
    pub const fn new() -> Self {
        Self {
            shape: Shape::Full,
            chosen: false,
            pos: 0,
        }
    }

    /// Fixes the shape. Allowed only before the shapes diverge.
    pub fn choose(&mut self, shape: Shape) -> bool {
        if self.chosen || self.pos > COMMON_PREFIX {
            return false;
        }
        self.shape = shape;
        self.chosen = true;
        true
    }

    /// Replaces the chosen shape with one that agrees on every step taken so far (the client's
    /// empty Certificate turning [`Shape::Mutual`] into [`Shape::AskedNoneGiven`]). False,
    /// and nothing changes, if they disagree on a step already taken.
    pub fn revise(&mut self, shape: Shape) -> bool {
        let (now, then) = (self.shape.steps(), shape.steps());
        let taken = self.pos.min(now.len());
        if !self.chosen || then.len() < taken || now[..taken] != then[..taken] {
            return false;
        }
        self.shape = shape;
        true
    }

    /// The shape (meaningful once chosen).
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// True once the shape is fixed.
    pub fn is_chosen(&self) -> bool {
        self.chosen
    }

    /// The next step, if the handshake is not over.
    pub fn next(&self) -> Option<Step> {
        if self.pos >= COMMON_PREFIX && !self.chosen {
            return None;
        }
        self.shape.steps().get(self.pos).copied()
    }

    /// Which message `me` must receive next, or why nothing may arrive now.
    ///
    /// This is the one place that decides what is allowed: every received handshake message
    /// and ChangeCipherSpec is checked here first.
    pub fn expect(&self, me: Role) -> Option<Msg> {
        match self.next() {
            Some(step) if step.from != me => Some(step.msg),
            _ => None,
        }
    }

    /// Whether `me` may take `msg` now: what [`expect`](Self::expect) says, and one thing
    /// the client learns only when it arrives: a CertificateRequest (RFC 5246 §7.4.4) turns
    /// the full shape the ServerHello announced into its asking variant.
    pub fn admits(&mut self, me: Role, msg: Msg) -> bool {
        if self.expect(me) == Some(msg) {
            return true;
        }
        if me != Role::Client || msg != Msg::CertificateRequest {
            return false;
        }
        let asking = match self.shape {
            Shape::Full => Shape::Mutual,
            Shape::FullWithTicket => Shape::MutualWithTicket,
            _ => return false,
        };
        let before = *self;
        if self.revise(asking) && self.expect(me) == Some(msg) {
            return true;
        }
        *self = before;
        false
    }

    /// True when it is `me`'s turn to send `msg`.
    pub fn is_my_turn(&self, me: Role, msg: Msg) -> bool {
        self.next() == Some(Step { from: me, msg })
    }

    /// Marks the next step as done.
    pub fn advance(&mut self) {
        self.pos += 1;
    }

    /// True when every step has happened.
    pub fn is_complete(&self) -> bool {
        self.chosen && self.pos >= self.shape.steps().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_match_the_rfc_figures() {
        assert_eq!(Shape::Full.round_trips(), 2);
        assert_eq!(Shape::FullWithTicket.round_trips(), 2);
        assert_eq!(Shape::ResumeSessionId.round_trips(), 1);
        assert_eq!(Shape::ResumeTicket.round_trips(), 1);
        assert_eq!(Shape::ResumeTicketRenewed.round_trips(), 1);
        assert_eq!(Shape::Mutual.round_trips(), 2);
        assert_eq!(Shape::AskedNoneGiven.round_trips(), 2);
    }

    #[test]
    fn an_empty_client_certificate_revises_only_after_the_common_steps() {
        let mut flow = Flow::new();
        flow.advance();
        assert!(flow.choose(Shape::Mutual));
        // Up to and including the client's Certificate the two shapes agree.
        for _ in 1..7 {
            flow.advance();
        }
        assert_eq!(flow.next().map(|s| s.msg), Some(Msg::ClientKeyExchange));
        assert!(flow.revise(Shape::Mutual.without_client_certificate()));
        assert_eq!(flow.shape(), Shape::AskedNoneGiven);
        flow.advance();
        assert_eq!(flow.next().map(|s| s.msg), Some(Msg::ChangeCipherSpec));
        // A shape that disagrees on a step taken is refused.
        assert!(!flow.revise(Shape::Full));
        assert_eq!(flow.shape(), Shape::AskedNoneGiven);
    }

    #[test]
    fn all_shapes_share_the_prefix() {
        for shape in Shape::ALL {
            assert_eq!(&shape.steps()[..COMMON_PREFIX], &FULL[..COMMON_PREFIX]);
        }
    }

    #[test]
    fn expect_walks_a_shape() {
        for shape in Shape::ALL {
            let mut flow = Flow::new();
            for (i, step) in shape.steps().iter().enumerate() {
                if i == COMMON_PREFIX - 1 {
                    assert!(flow.choose(shape));
                }
                let receiver = step.from.peer();
                assert_eq!(flow.expect(receiver), Some(step.msg));
                assert_eq!(flow.expect(step.from), None);
                assert!(flow.is_my_turn(step.from, step.msg));
                flow.advance();
            }
            assert!(flow.is_complete());
            assert!(!flow.choose(Shape::Full));
        }
    }
}
