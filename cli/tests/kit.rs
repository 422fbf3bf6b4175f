//! The operators' and developers' kit, end to end: `reprise demo`, `reprise trace` against
//! real servers, `serve --metrics` scraped with curl, a tshark capture decrypted with
//! `serve --keylog`, and headless Chromium resuming a session with `reprise serve`.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn reprise(args: &[&str]) -> String {
    let out = run_with_timeout(Command::new(reprise_bin()).args(args), b"", PEER_TIMEOUT);
    let t = text(&out);
    assert!(out.status.success(), "reprise {}\n{t}", args.join(" "));
    t
}

/// The numbers after `label` on the first line that has it.
fn number_after(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {line:?}"))
}

/// Every value of `label` in order (one per ladder).
fn all_after(text: &str, label: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(label))
        .map(|l| number_after(l, label))
        .collect()
}

#[test]
fn demo_prints_three_ladders_and_an_svg() {
    let dir = TempDir::new("demo");
    let svg = dir.path().join("ladders.svg");
    let out = reprise(&["demo", "--rtt", "100ms", "--svg", &s(&svg)]);
    assert_eq!(
        all_after(&out, "TLS round trips:"),
        [2.0, 1.0, 1.0],
        "{out}"
    );
    let ttfb = all_after(&out, "time to first application byte:");
    assert_eq!(ttfb.len(), 3, "{out}");
    for resumed in &ttfb[1..] {
        let saved = ttfb[0] - resumed;
        assert!(
            (50.0..200.0).contains(&saved),
            "a resumption should save about one RTT (100 ms): {ttfb:?}\n{out}"
        );
    }
    for needle in [
        "ClientHello",
        "ServerKeyExchange",
        "Finished (encrypted)",
        "resumed: yes (session-id)",
        "resumed: yes (ticket)",
    ] {
        assert!(out.contains(needle), "{needle:?} missing\n{out}");
    }
    let picture = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
    assert!(picture.contains("resumption by ticket") && picture.contains("ServerHelloDone"));
}

fn serve_with(pki: &Pki, extra: &[&str]) -> Server {
    let mut args = pki.serve_args();
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::reprise("threads", &args)
}

#[test]
fn trace_shows_full_then_resumed_ladders_against_reprise_and_openssl() {
    let pki = Pki::generate("trace");
    let ca = s(&pki.ca);
    let server = serve_with(&pki, &[]);
    for mode in ["ticket", "id"] {
        let out = reprise(&[
            "trace",
            &server.addr(),
            "--sni",
            "localhost",
            "--ca",
            &ca,
            "--resume",
            mode,
            "--http-get",
            "/",
        ]);
        let ctx = format!("[reprise serve, --resume {mode}]\n{out}\n{}", server.log());
        assert_eq!(all_after(&out, "TLS round trips:"), [2.0, 1.0], "{ctx}");
        let kind = if mode == "id" { "session-id" } else { "ticket" };
        assert!(out.contains(&format!("resumed: yes ({kind})")), "{ctx}");
        assert!(out.contains("ServerHelloDone") && out.contains("http: HTTP/1.1 200"));
        let ttfb = all_after(&out, "time to first application byte:");
        assert_eq!(ttfb.len(), 2, "{ctx}");
    }
    // Any TLS 1.2 server: openssl s_server, resumed by session ID.
    let openssl = Server::openssl(&[
        "-cert",
        &s(&pki.ecdsa_cert),
        "-key",
        &s(&pki.ecdsa_key),
        "-no_ticket",
    ]);
    let out = reprise(&[
        "trace",
        &openssl.addr(),
        "--sni",
        "localhost",
        "--ca",
        &ca,
        "--resume",
        "id",
    ]);
    let ctx = format!("{out}\n{}", openssl.log());
    assert_eq!(all_after(&out, "TLS round trips:"), [2.0, 1.0], "{ctx}");
    assert!(out.contains("resumed: yes (session-id)"), "{ctx}");
}

/// Starts `reprise serve --metrics 127.0.0.1:0 EXTRA…` and returns it with the metrics URL.
fn serve_with_metrics(pki: Option<&Pki>, extra: &[&str]) -> (Server, String) {
    let mut args = pki.map(Pki::serve_args).unwrap_or_default();
    args.extend(["--metrics".to_string(), "127.0.0.1:0".to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::reprise("threads", &args);
    let log = server.log();
    let url = log
        .lines()
        .find_map(|l| l.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no metrics line\n{log}"))
        .trim()
        .to_string();
    (server, url)
}

fn curl(url: &str) -> String {
    let out = run_with_timeout(
        Command::new("curl").args(["-sS", "--max-time", "10", url]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(out.status.success(), "curl {url}\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the series named exactly `series` (labels included).
fn metric(page: &str, series: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series}\n{page}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bad value for {series}\n{page}"))
}

#[test]
fn metrics_endpoint_counts_handshakes_connections_and_cache() {
    let pki = Pki::generate("metrics");
    let (server, url) = serve_with_metrics(Some(&pki), &[]);
    let before = curl(&url);
    assert!(
        before.contains("# TYPE reprise_handshakes_total counter"),
        "{before}"
    );
    assert_eq!(
        metric(&before, "reprise_handshakes_total{kind=\"full\"}"),
        0
    );
    assert_eq!(metric(&before, "reprise_connections_total"), 0);
    let ca = s(&pki.ca);
    for _ in 0..2 {
        reprise(&[
            "connect",
            &server.addr(),
            "--sni",
            "localhost",
            "--ca",
            &ca,
            "--reconnect",
            "3",
            "--resume",
            "ticket",
        ]);
    }
    reprise(&[
        "connect",
        &server.addr(),
        "--sni",
        "localhost",
        "--ca",
        &ca,
        "--reconnect",
        "1",
        "--resume",
        "id",
    ]);
    let after = curl(&url);
    let ctx = format!("{after}\n{}", server.log());
    assert_eq!(
        metric(&after, "reprise_handshakes_total{kind=\"full\"}"),
        3,
        "{ctx}"
    );
    assert_eq!(
        metric(&after, "reprise_handshakes_total{kind=\"ticket\"}"),
        6,
        "{ctx}"
    );
    assert_eq!(
        metric(&after, "reprise_handshakes_total{kind=\"session_id\"}"),
        1,
        "{ctx}"
    );
    assert_eq!(metric(&after, "reprise_connections_total"), 10, "{ctx}");
    assert_eq!(
        metric(&after, "reprise_session_cache_hits_total"),
        1,
        "{ctx}"
    );
    assert!(
        metric(&after, "reprise_session_cache_sessions") >= 3,
        "{ctx}"
    );
    assert!(metric(&after, "reprise_ticket_keys") >= 1, "{ctx}");
    // Only /metrics is served.
    let other = url.trim_end_matches("/metrics").to_string() + "/other";
    let out = run_with_timeout(
        Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &other]),
        b"",
        PEER_TIMEOUT,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
}

/// Sends a signal to one process by its PID (`kill` is the portable way without libc).
fn signal(pid: u32, sig: &str, group: bool) {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let _ = Command::new("kill")
        .args([sig, "--", &target])
        .stderr(Stdio::null())
        .status();
}

#[test]
fn tshark_decrypts_a_capture_with_the_servers_key_log() {
    let pki = Pki::generate("tshark");
    let dir = TempDir::new("tshark");
    let keylog = dir.path().join("keys.log");
    let pcap = dir.path().join("cap.pcap");
    let server = serve_with(&pki, &["--keylog", &s(&keylog)]);
    let port = server.port.to_string();
    let mut tshark = Running::spawn(
        Command::new("tshark").args([
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "-F",
            "pcap",
            "-w",
            &s(&pcap),
        ]),
        b"",
    );
    assert!(
        tshark.wait_for(Duration::from_secs(20), |_, err| err
            .contains("Capturing on")),
        "tshark did not start capturing\n{}",
        tshark.describe()
    );
    // dumpcap prints its banner as it opens the device; give it a moment to be live.
    std::thread::sleep(Duration::from_millis(500));
    let out = reprise(&[
        "connect",
        &server.addr(),
        "--sni",
        "localhost",
        "--ca",
        &s(&pki.ca),
        "--resume",
        "none",
        "--http-get",
        "/",
    ]);
    assert!(out.contains("http: HTTP/1.1 200"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    // SIGINT lets tshark flush and close the file; bounded wait, then kill by PID.
    signal(tshark.pid(), "-INT", false);
    let stopped = tshark.wait_or_kill(Duration::from_secs(15));
    let capture_log = tshark.describe();
    drop(tshark);
    assert!(stopped, "tshark did not stop on SIGINT\n{capture_log}");
    let keys = std::fs::read_to_string(&keylog).expect("key log written");
    assert!(
        keys.lines().any(|l| l.starts_with("CLIENT_RANDOM ")),
        "{keys}"
    );
    let read = |with_keys: bool| {
        let mut cmd = Command::new("tshark");
        cmd.args(["-r", &s(&pcap), "-d", &format!("tcp.port=={port},tls")]);
        if with_keys {
            cmd.args(["-o", &format!("tls.keylog_file:{}", s(&keylog))]);
        }
        cmd.args(["-Y", "http"]);
        let out = run_with_timeout(&mut cmd, b"", Duration::from_secs(60));
        assert!(out.status.success(), "tshark -r\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let decrypted = read(true);
    assert!(
        decrypted.contains("GET / HTTP/1.1") && decrypted.contains("HTTP/1.1 200 OK"),
        "tshark should show the request and the answer\n{decrypted}\n{capture_log}"
    );
    // Without the key log the same capture shows no HTTP at all.
    let opaque = read(false);
    assert!(!opaque.contains("GET /"), "{opaque}");
}

/// The harness page: loads the server's `/close` page in an iframe, and once it has loaded
/// (and the server has closed that connection), loads it again in a second iframe.
fn twice_page(port: u16) -> String {
    format!(
        r#"<!doctype html><title>reprise twice</title><body><script>
const base = "https://127.0.0.1:{port}";
function load(n) {{
  return new Promise((done) => {{
    const f = document.createElement("iframe");
    f.onload = () => done();
    f.src = base + "/close?load=" + n;
    document.body.appendChild(f);
  }});
}}
load(1).then(() => new Promise((r) => setTimeout(r, 500))).then(() => load(2))
  .then(() => {{ document.title = "loaded twice"; }});
</script></body>"#
    )
}

#[test]
fn chromium_resumes_its_session_with_reprise_serve() {
    use std::os::unix::process::CommandExt;
    // Self-signed certificates (serve's default); Chromium is told to ignore the errors.
    let (server, url) = serve_with_metrics(None, &[]);
    let dir = TempDir::new("chromium");
    let page = dir.path().join("twice.html");
    std::fs::write(&page, twice_page(server.port)).unwrap();
    let profile = dir.path().join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--ignore-certificate-errors",
    ])
    .arg(format!("--user-data-dir={}", s(&profile)))
    .arg(format!("file://{}", s(&page)))
    // Its own process group, so the browser's children are stopped with it.
    .process_group(0);
    let mut chromium = Running::spawn(&mut cmd, b"");
    let pgid = chromium.pid();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (resumed, page_text) = loop {
        let page_text = curl(&url);
        let resumed = metric(&page_text, "reprise_handshakes_total{kind=\"ticket\"}")
            + metric(&page_text, "reprise_handshakes_total{kind=\"session_id\"}");
        if resumed >= 1 || Instant::now() >= deadline || chromium.exited().is_some() {
            break (resumed, page_text);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    signal(pgid, "-KILL", true);
    let browser_log = chromium.describe();
    chromium.kill();
    drop(chromium);
    let ctx = format!("{page_text}\n{}\n{browser_log}", server.log());
    assert!(
        metric(&page_text, "reprise_handshakes_total{kind=\"full\"}") >= 1,
        "{ctx}"
    );
    assert!(
        metric(&page_text, "reprise_connections_total") >= 2,
        "{ctx}"
    );
    assert!(
        resumed >= 1,
        "the second load should have resumed (ticket or session ID)\n{ctx}"
    );
}

#[test]
fn metrics_move_under_reprise_load_on_every_driver() {
    for driver in drivers() {
        let server = Server::reprise(driver, &["--metrics", "127.0.0.1:0"]);
        let log = server.log();
        let url = log
            .lines()
            .find_map(|l| l.strip_prefix("metrics on "))
            .unwrap_or_else(|| panic!("[{driver}] no metrics line\n{log}"))
            .trim()
            .to_string();
        let before = curl(&url);
        let out = run_with_timeout(
            Command::new(reprise_bin())
                .args(["load", &server.addr(), "--insecure", "--sni", "localhost"])
                .args([
                    "--connections",
                    "8",
                    "--duration",
                    "1s",
                    "--resume",
                    "ticket",
                ]),
            b"",
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "[{driver}] {}", text(&out));
        let after = curl(&url);
        let ctx = format!("[{driver}]\n{after}\n{}", server.log());
        let moved = |name: &str| metric(&after, name) > metric(&before, name);
        assert!(moved("reprise_handshakes_total{kind=\"ticket\"}"), "{ctx}");
        assert!(moved("reprise_handshakes_total{kind=\"full\"}"), "{ctx}");
        assert!(moved("reprise_connections_total"), "{ctx}");
        assert!(
            metric(&after, "reprise_handshakes_total{kind=\"ticket\"}") >= 8,
            "{ctx}"
        );
    }
}
