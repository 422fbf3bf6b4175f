//! The socket calls a served connection makes on every turn, made straight to the kernel
//! (rustix's raw system calls) rather than through the C library.
//!
//! glibc's `recv`, `send` and `accept4` are cancellation points (POSIX `pthread_cancel`): in a
//! process with more than one thread, each call switches the calling thread's cancellation
//! state before and after the system call, two atomic read-modify-writes on a line the
//! kernel's work in between has usually evicted. The server always runs several threads and
//! never cancels one, so it pays that for nothing on every read and write of every
//! connection. The system calls, flags and errors are those of the standard library's
//! `TcpStream` and mio's `TcpListener::accept` (a UNIX upstream's writes become `send` with
//! `MSG_NOSIGNAL` too, where the standard library calls `write`). Elsewhere than on Linux
//! the standard library's calls are used.

#[cfg(target_os = "linux")]
pub(crate) use linux::{accept, recv, send};
#[cfg(not(target_os = "linux"))]
pub(crate) use portable::{accept, recv, send};

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::net::SocketAddr;
    use std::os::fd::AsFd;

    use rustix::net::{RecvFlags, SendFlags, SocketFlags};

    /// `recv(2)` into `buf`: the bytes read (0 at end of stream), or the error
    /// (`WouldBlock` when the socket is empty, `Interrupted` on a signal).
    pub(crate) fn recv<S: AsFd>(sock: &S, buf: &mut [u8]) -> io::Result<usize> {
        let (read, _) = rustix::net::recv(sock, buf, RecvFlags::empty())?;
        Ok(read)
    }

    /// `send(2)` of `buf` with `MSG_NOSIGNAL` (a closed peer is an `EPIPE` error, not a
    /// `SIGPIPE`): the bytes the socket took.
    pub(crate) fn send<S: AsFd>(sock: &S, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(sock, buf, SendFlags::NOSIGNAL)?)
    }

    /// `accept4(2)` of a non-blocking, close-on-exec connection and its peer's address.
    pub(crate) fn accept(
        listener: &mio::net::TcpListener,
    ) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
        let (fd, addr) =
            rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
        // A TCP listener's peers have IP addresses; anything else is closed (dropped) as a
        // connection that went away.
        let peer = addr
            .and_then(|a| SocketAddr::try_from(a).ok())
            .ok_or(io::ErrorKind::ConnectionAborted)?;
        Ok((
            mio::net::TcpStream::from_std(std::net::TcpStream::from(fd)),
            peer,
        ))
    }
}

/// Elsewhere: the standard library's and mio's calls.
#[cfg(not(target_os = "linux"))]
mod portable {
    use std::io::{self, Read, Write};
    use std::net::SocketAddr;

    pub(crate) fn recv<S>(sock: &S, buf: &mut [u8]) -> io::Result<usize>
    where
        for<'a> &'a S: Read,
    {
        let mut sock = sock;
        sock.read(buf)
    }

    pub(crate) fn send<S>(sock: &S, buf: &[u8]) -> io::Result<usize>
    where
        for<'a> &'a S: Write,
    {
        let mut sock = sock;
        sock.write(buf)
    }

    pub(crate) fn accept(
        listener: &mio::net::TcpListener,
    ) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
        listener.accept()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::{accept, recv, send};

    #[test]
    fn a_connection_accepted_reads_and_writes_like_the_standard_library() {
        let listener = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(
            accept(&listener).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (server, peer) = loop {
            match accept(&listener) {
                Ok(accepted) => break accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("accept: {e}"),
            }
        };
        assert_eq!(peer, client.local_addr().unwrap());
        let mut buf = [0u8; 16];
        // Non-blocking: nothing there yet.
        assert_eq!(
            recv(&server, &mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        client.write_all(b"hello").unwrap();
        let n = loop {
            match recv(&server, &mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("recv: {e}"),
            }
        };
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(send(&server, b"world").unwrap(), 5);
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"world");
        // The peer's close reads as end of stream; writing to it then fails with an error,
        // not a signal.
        drop(client);
        let eof = loop {
            match recv(&server, &mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("recv: {e}"),
            }
        };
        assert_eq!(eof, 0);
        let mut failed = false;
        for _ in 0..100 {
            if send(&server, &[0u8; 1024]).is_err() {
                failed = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(failed, "writes to a closed peer end in an error");
    }
}
