//! The probe works on this machine, and probing does not interrupt the caller's blocking
//! socket calls (the kernel notifies every thread that used a closing ring).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[test]
fn probing_leaves_the_callers_blocking_reads_alone() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sock = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _peer = listener.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..20 {
        // The kernel's io_uring (6.0 or later, not disabled) is a requirement of this project's
        // machines; the fallback is tested from the CLI with the test hook.
        reprise_uring::probe().unwrap();
        let start = Instant::now();
        let err = sock.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "read after a probe: {err} after {:?}",
            start.elapsed()
        );
    }
}
