//! The listening sockets of a server's workers, shared by the drivers.

use std::io;
use std::net::SocketAddr;

use crate::options::{ListenerMode, ServerOptions};

fn bind(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no setsockopt per
    // connection.
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Refuses `addr` when another socket already listens on it: a plain bind (without
/// `SO_REUSEPORT`) fails there, whatever the other socket set.
fn refuse_if_served(addr: SocketAddr) -> io::Result<()> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{addr} is already served by another process; to join it on purpose (a \
                 hitless upgrade), pass --reuse-port"
            ),
        )),
        Err(e) => Err(e),
    }
}

/// The non-blocking listening sockets of `options.workers` workers on `addr`, one each: with
/// [`ListenerMode::ReusePort`] separate `SO_REUSEPORT` sockets on one port (port 0 picks it
/// once), with [`ListenerMode::Shared`] clones of one socket. `TCP_NODELAY` is set on them,
/// so accepted sockets inherit it. A port another process listens on is refused
/// ([`io::ErrorKind::AddrInUse`], naming the address) unless
/// [`ServerOptions::join_other_listeners`]. A [`ServerOptions::listening_socket`] is shared
/// by every worker instead, and `addr` is not bound.
pub fn bind_listeners(
    addr: SocketAddr,
    options: &ServerOptions,
) -> io::Result<Vec<std::net::TcpListener>> {
    let workers = options.workers.max(1);
    let mut listeners = Vec::with_capacity(workers);
    if let Some(socket) = &options.listening_socket {
        socket.set_nonblocking(true)?;
        for _ in 0..workers {
            listeners.push(socket.try_clone()?);
        }
        return Ok(listeners);
    }
    match options.listener {
        ListenerMode::ReusePort => {
            if addr.port() != 0 && !options.join_other_listeners {
                refuse_if_served(addr)?;
            }
            let first = bind(addr, true, options.backlog)?;
            let actual = first.local_addr()?;
            listeners.push(first);
            for _ in 1..workers {
                listeners.push(bind(actual, true, options.backlog)?);
            }
        }
        ListenerMode::Shared => {
            let first = bind(addr, false, options.backlog)?;
            for _ in 1..workers {
                listeners.push(first.try_clone()?);
            }
            listeners.push(first);
        }
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_another_socket_listens_on_is_refused_unless_joining() {
        let options = ServerOptions {
            workers: 2,
            ..ServerOptions::default()
        };
        let live = bind_listeners("127.0.0.1:0".parse().unwrap(), &options).unwrap();
        let addr = live[0].local_addr().unwrap();
        let refused = bind_listeners(addr, &options).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AddrInUse);
        assert!(refused.to_string().contains(&addr.to_string()), "{refused}");
        let joining = ServerOptions {
            join_other_listeners: true,
            ..options
        };
        assert_eq!(bind_listeners(addr, &joining).unwrap().len(), 2);
    }

    #[test]
    fn a_listening_socket_given_is_shared_and_nothing_is_bound() {
        let given = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = given.local_addr().unwrap();
        let options = ServerOptions {
            workers: 3,
            listening_socket: Some(std::sync::Arc::new(given)),
            ..ServerOptions::default()
        };
        // The address is in use by the given socket itself: no probe, no bind.
        let listeners = bind_listeners(addr, &options).unwrap();
        assert_eq!(listeners.len(), 3);
        assert!(listeners.iter().all(|l| l.local_addr().unwrap() == addr));
    }
}
