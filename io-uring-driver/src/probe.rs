//! Can io_uring be used here? [`probe`] answers with the cause when it cannot.

use std::fmt;
use std::io;

use io_uring::{opcode, IoUring, Probe};

/// Name of the environment variable that makes [`probe`] fail, as if io_uring were missing.
///
/// A test hook: set `REPRISE_URING_DISABLE=1` to exercise the fallback to mio on a machine
/// where io_uring works.
pub const DISABLE_ENV: &str = "REPRISE_URING_DISABLE";

/// Why io_uring cannot be used.
#[derive(Debug)]
pub enum Unavailable {
    /// The [`DISABLE_ENV`] test hook is set.
    DisabledByTestHook,
    /// The `kernel.io_uring_disabled` sysctl forbids it (value 1 or 2).
    DisabledBySysctl(u32),
    /// `io_uring_setup` is refused with `EPERM` (a seccomp filter or a container policy).
    NotPermitted(io::Error),
    /// The kernel has no io_uring (older than 5.1, built without it, or a seccomp filter
    /// answering `ENOSYS`).
    NotInKernel(io::Error),
    /// io_uring works but lacks an operation or feature the driver needs (the kernel is too
    /// old: multishot receive needs 6.0).
    MissingFeature(&'static str),
    /// Another error setting up a ring (e.g. `ENOMEM` from a locked-memory limit).
    Setup(io::Error),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::DisabledByTestHook => {
                write!(f, "io_uring disabled by the {DISABLE_ENV} test hook")
            }
            Unavailable::DisabledBySysctl(v) => {
                write!(f, "io_uring is disabled by sysctl kernel.io_uring_disabled={v}")
            }
            Unavailable::NotPermitted(e) => write!(
                f,
                "io_uring_setup is not permitted (seccomp filter or container policy): {e}"
            ),
            Unavailable::NotInKernel(e) => write!(
                f,
                "this kernel has no io_uring (older than 5.1, built without it, or blocked by seccomp): {e}"
            ),
            Unavailable::MissingFeature(what) => {
                write!(f, "io_uring lacks {what} (a kernel of 6.0 or later is needed)")
            }
            Unavailable::Setup(e) => write!(f, "io_uring setup failed: {e}"),
        }
    }
}

impl std::error::Error for Unavailable {}

impl From<Unavailable> for io::Error {
    fn from(u: Unavailable) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, u.to_string())
    }
}

fn sysctl_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&v| v != 0)
}

/// Maps an error of `io_uring_setup` to its cause.
pub(crate) fn classify(e: io::Error) -> Unavailable {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => Unavailable::NotInKernel(e),
        Some(libc::EPERM) | Some(libc::EACCES) => match sysctl_disabled() {
            Some(v) => Unavailable::DisabledBySysctl(v),
            None => Unavailable::NotPermitted(e),
        },
        _ => Unavailable::Setup(e),
    }
}

/// Checks that io_uring works here with everything the driver uses: a ring, the
/// `EXT_ARG` wait with a timeout, multishot accept and receive (the `ACCEPT`, `RECV`,
/// `SEND`, `ASYNC_CANCEL`, `POLL_ADD` and `CLOSE` operations) and provided-buffer rings.
///
/// The trial ring is made and dropped on a short-lived thread of its own: closing a ring makes
/// the kernel queue work on every thread that used it with a signal-like notification, which
/// would interrupt a blocking socket call of the caller (`EINTR`).
pub fn probe() -> Result<(), Unavailable> {
    if std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        return Err(Unavailable::DisabledByTestHook);
    }
    std::thread::scope(|s| {
        s.spawn(probe_here)
            .join()
            .unwrap_or(Err(Unavailable::MissingFeature(
                "a working probe (it panicked)",
            )))
    })
}

fn probe_here() -> Result<(), Unavailable> {
    let ring = IoUring::new(8).map_err(classify)?;
    if !ring.params().is_feature_ext_arg() {
        return Err(Unavailable::MissingFeature(
            "waits with a timeout (EXT_ARG, 5.11)",
        ));
    }
    if !ring.params().is_feature_nodrop() {
        return Err(Unavailable::MissingFeature("no-drop completions (5.5)"));
    }
    let mut ops = Probe::new();
    ring.submitter()
        .register_probe(&mut ops)
        .map_err(|_| Unavailable::MissingFeature("the operation probe (5.6)"))?;
    for (code, name) in [
        (opcode::AcceptMulti::CODE, "accept"),
        (opcode::RecvMulti::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::AsyncCancel::CODE, "async cancel"),
        (opcode::PollAdd::CODE, "poll"),
        (opcode::Close::CODE, "close"),
        (opcode::Connect::CODE, "connect"),
    ] {
        if !ops.is_supported(code) {
            return Err(Unavailable::MissingFeature(name));
        }
    }
    // Multishot receive and provided-buffer rings came with 5.19/6.0: registering a small
    // buffer ring tells.
    let mut bufs = crate::bufring::BufRing::new(2, 64)
        .map_err(|_| Unavailable::Setup(io::Error::other("cannot allocate a buffer ring")))?;
    bufs.register(&ring.submitter(), 0)
        .map_err(|_| Unavailable::MissingFeature("provided-buffer rings (5.19)"))?;
    bufs.unregister(&ring.submitter());
    let version = kernel_version();
    if version.is_some_and(|v| v < (6, 0)) {
        return Err(Unavailable::MissingFeature("multishot receive (6.0)"));
    }
    Ok(())
}

/// `(major, minor)` of the running kernel.
fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names_the_cause() {
        let e = classify(io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(matches!(e, Unavailable::NotInKernel(_)));
        assert!(e.to_string().contains("no io_uring"));
        let e = classify(io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(matches!(e, Unavailable::Setup(_)));
        let e = classify(io::Error::from_raw_os_error(libc::EPERM));
        assert!(matches!(
            e,
            Unavailable::NotPermitted(_) | Unavailable::DisabledBySysctl(_)
        ));
        let io: io::Error = Unavailable::DisabledBySysctl(2).into();
        assert_eq!(io.kind(), io::ErrorKind::Unsupported);
        assert!(io.to_string().contains("kernel.io_uring_disabled=2"));
    }

    #[test]
    fn kernel_version_parses() {
        let v = kernel_version().unwrap();
        assert!(v.0 >= 2);
    }
}
