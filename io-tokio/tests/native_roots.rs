//! The operating system's root certificates (feature `native-roots`): they load, and a
//! connector trusting them is one line. Run by scripts/test.sh with the feature on.

#[test]
fn system_roots_load() {
    let roots = reprise_tokio::native_roots().expect("the system's root certificates");
    assert!(
        roots.len() > 10,
        "only {} system roots: is ca-certificates installed?",
        roots.len()
    );
    let connector = reprise_tokio::TlsConnector::with_native_roots();
    assert!(connector.is_ok());
}
