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

/// The non-blocking listening sockets of `options.workers` workers on `addr`, one each: with
/// [`ListenerMode::ReusePort`] separate `SO_REUSEPORT` sockets on one port (port 0 picks it
/// once), with [`ListenerMode::Shared`] clones of one socket. `TCP_NODELAY` is set on them,
/// so accepted sockets inherit it.
pub fn bind_listeners(
    addr: SocketAddr,
    options: &ServerOptions,
) -> io::Result<Vec<std::net::TcpListener>> {
    let workers = options.workers.max(1);
    let mut listeners = Vec::with_capacity(workers);
    match options.listener {
        ListenerMode::ReusePort => {
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
