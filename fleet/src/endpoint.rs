//! Where a fleet's Redis lives: one server, a Redis Cluster, or a master found through Redis
//! Sentinel — one URL for the session store, the followed ticket-key ring and the publisher.
//!
//! | form | meaning |
//! |---|---|
//! | `redis://[USER:PASS@]HOST:PORT[/DB]` | one server (also `redis+unix://` / `unix://`) |
//! | `redis+cluster://[USER:PASS@]H1:P1,H2:P2,…[/]` | a Redis Cluster, found from any seed node |
//! | `redis+sentinel://[USER:PASS@]S1:P1,S2:P2,…/MASTER[/DB]` | the master Sentinel names `MASTER` |
//!
//! `rediss` in place of `redis` speaks TLS to every node (verified against the system's trust
//! store; `SSL_CERT_FILE` names another bundle, e.g. a private CA). `USER:PASS` is a Redis ACL
//! user (or only `:PASS` for `requirepass`), percent-encoded where needed; it authenticates to the
//! data nodes. Sentinels that want their own credentials take them as query parameters:
//! `?sentinel_username=U&sentinel_password=P`. Cluster and Sentinel use the `redis` crate's own
//! topology support: a failover or a resharding is picked up on the next reconnection.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, ConnectionAddr, ConnectionLike, RedisResult, TlsMode, Value};

use crate::FleetError;

/// A parsed fleet Redis URL, ready to connect (see the module docs for the forms).
pub struct RedisEndpoint {
    topology: Topology,
    /// The URL with any password replaced by `***`, for logs.
    shown: String,
    timeout: Duration,
}

enum Topology {
    Server(redis::Client),
    Cluster(ClusterClient),
    /// The client caches its sentinel connections, hence the lock.
    Sentinel(Mutex<SentinelClient>),
}

/// A connection to whichever node (or, for a cluster, nodes) the endpoint names now.
pub enum FleetConnection {
    /// One server, or the master Sentinel named at connection time.
    Server(redis::Connection),
    /// A cluster connection, routing each command by its key's slot.
    Cluster(Box<ClusterConnection>),
}

impl fmt::Debug for RedisEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisEndpoint").field(&self.shown).finish()
    }
}

/// The URL with its password hidden.
impl fmt::Display for RedisEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl RedisEndpoint {
    /// Parses `url`; connecting and each command are bounded by `timeout`. Nothing is
    /// contacted yet, so an unreachable Redis is no error here.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, FleetError> {
        let parsed = ParsedUrl::parse(url)?;
        let shown = parsed.redacted();
        let bad = |source| FleetError::Redis {
            context: shown.clone(),
            source,
        };
        let topology = match parsed.kind {
            Kind::Server => Topology::Server(redis::Client::open(url).map_err(bad)?),
            Kind::Cluster => {
                let scheme = if parsed.tls { "rediss" } else { "redis" };
                let nodes: Vec<String> = parsed
                    .hosts
                    .iter()
                    .map(|(host, port)| format!("{scheme}://{}/", host_port(host, *port)))
                    .collect();
                let mut builder = ClusterClientBuilder::new(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100);
                if let Some(user) = &parsed.username {
                    builder = builder.username(user);
                }
                if let Some(password) = &parsed.password {
                    builder = builder.password(password);
                }
                if parsed.tls {
                    builder = builder.tls(TlsMode::Secure);
                }
                Topology::Cluster(builder.build().map_err(bad)?)
            }
            Kind::Sentinel { ref master, db } => {
                let sentinels = parsed.hosts.iter().map(|(host, port)| {
                    if parsed.tls {
                        ConnectionAddr::TcpTls {
                            host: host.clone(),
                            port: *port,
                            insecure: false,
                            tls_params: None,
                        }
                    } else {
                        ConnectionAddr::Tcp(host.clone(), *port)
                    }
                });
                let mut builder =
                    SentinelClientBuilder::new(sentinels, master, SentinelServerType::Master)
                        .map_err(bad)?
                        .set_client_to_redis_db(db);
                if parsed.tls {
                    builder = builder
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure);
                }
                if let Some(user) = &parsed.username {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(password) = &parsed.password {
                    builder = builder.set_client_to_redis_password(password);
                }
                if let Some(user) = &parsed.sentinel_username {
                    builder = builder.set_client_to_sentinel_username(user);
                }
                if let Some(password) = &parsed.sentinel_password {
                    builder = builder.set_client_to_sentinel_password(password);
                }
                Topology::Sentinel(Mutex::new(builder.build().map_err(bad)?))
            }
        };
        Ok(Self {
            topology,
            shown,
            timeout,
        })
    }

    /// Connects, with reads and writes bounded by the endpoint's timeout. For Sentinel this
    /// asks the sentinels which node is master now.
    pub fn connect(&self) -> RedisResult<FleetConnection> {
        let bounded = |c: redis::Connection| -> RedisResult<FleetConnection> {
            c.set_read_timeout(Some(self.timeout))?;
            c.set_write_timeout(Some(self.timeout))?;
            Ok(FleetConnection::Server(c))
        };
        match &self.topology {
            Topology::Server(client) => bounded(client.get_connection_with_timeout(self.timeout)?),
            Topology::Cluster(client) => {
                let c = client.get_connection()?;
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                Ok(FleetConnection::Cluster(Box::new(c)))
            }
            Topology::Sentinel(sentinel) => {
                let master = sentinel
                    .lock()
                    .map_err(|_| {
                        redis::RedisError::from((
                            redis::ErrorKind::Client,
                            "sentinel client poisoned",
                        ))
                    })?
                    .get_client()?;
                bounded(master.get_connection_with_timeout(self.timeout)?)
            }
        }
    }
}

impl ConnectionLike for FleetConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            FleetConnection::Server(c) => c.req_packed_command(cmd),
            FleetConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            FleetConnection::Server(c) => c.req_packed_commands(cmd, offset, count),
            FleetConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    // The cluster connection routes by the command's key, which it reads from the `Cmd`.
    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            FleetConnection::Server(c) => c.req_command(cmd),
            FleetConnection::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            FleetConnection::Server(c) => c.get_db(),
            FleetConnection::Cluster(c) => c.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match self {
            FleetConnection::Server(c) => c.supports_pipelining(),
            FleetConnection::Cluster(c) => c.supports_pipelining(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            FleetConnection::Server(c) => c.check_connection(),
            FleetConnection::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            FleetConnection::Server(c) => c.is_open(),
            FleetConnection::Cluster(c) => c.is_open(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Server,
    Cluster,
    Sentinel { master: String, db: i64 },
}

/// What a fleet URL says, before anything is built from it.
#[derive(Debug, PartialEq, Eq)]
struct ParsedUrl {
    scheme: String,
    kind: Kind,
    tls: bool,
    username: Option<String>,
    password: Option<String>,
    hosts: Vec<(String, u16)>,
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    /// The part after the hosts, as written (for the redacted form).
    rest: String,
}

impl ParsedUrl {
    fn parse(url: &str) -> Result<Self, FleetError> {
        let bad = |why: &'static str| FleetError::BadUrl {
            url: redact_userinfo(url),
            why,
        };
        let (scheme, rest) = url.split_once("://").ok_or(bad("no scheme"))?;
        let (kind_name, tls) =
            match scheme {
                "redis" | "redis+unix" | "unix" => ("server", false),
                "rediss" => ("server", true),
                "redis+cluster" => ("cluster", false),
                "rediss+cluster" => ("cluster", true),
                "redis+sentinel" => ("sentinel", false),
                "rediss+sentinel" => ("sentinel", true),
                _ => return Err(bad(
                    "the scheme must be redis, rediss, redis+cluster, redis+sentinel (or rediss+…)",
                )),
            };
        let mut parsed = ParsedUrl {
            scheme: scheme.to_string(),
            kind: Kind::Server,
            tls,
            username: None,
            password: None,
            hosts: Vec::new(),
            sentinel_username: None,
            sentinel_password: None,
            rest: String::new(),
        };
        if kind_name == "server" {
            // The redis crate parses single-server URLs itself; only the credentials are read
            // here, for the redacted form.
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                (parsed.username, parsed.password) = split_userinfo(userinfo).map_err(bad)?;
            }
            parsed.rest = rest.to_string();
            return Ok(parsed);
        }
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (rest, ""),
        };
        let hosts = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                (parsed.username, parsed.password) = split_userinfo(userinfo).map_err(bad)?;
                hosts
            }
            None => authority,
        };
        let default_port = if kind_name == "sentinel" { 26379 } else { 6379 };
        for host in hosts.split(',') {
            parsed
                .hosts
                .push(split_host_port(host, default_port).map_err(bad)?);
        }
        parsed.kind = if kind_name == "cluster" {
            if !path.is_empty() {
                return Err(bad(
                    "a Redis Cluster has no databases: end the URL at the hosts or '/'",
                ));
            }
            Kind::Cluster
        } else {
            let (master, db) = match path.split_once('/') {
                Some((master, db)) => (
                    master,
                    db.trim_end_matches('/').parse::<i64>().map_err(|_| {
                        bad("the database after the master's name must be a number")
                    })?,
                ),
                None => (path, 0),
            };
            if master.is_empty() {
                return Err(bad("redis+sentinel:// needs the master's name: …/MASTER"));
            }
            Kind::Sentinel {
                master: percent_decode(master).map_err(bad)?,
                db,
            }
        };
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = Some(percent_decode(value).map_err(bad)?);
            match (key, &parsed.kind) {
                ("sentinel_username", Kind::Sentinel { .. }) => parsed.sentinel_username = value,
                ("sentinel_password", Kind::Sentinel { .. }) => parsed.sentinel_password = value,
                _ => {
                    return Err(bad(
                        "unknown query parameter (only sentinel_username and sentinel_password, for Sentinel)",
                    ))
                }
            }
        }
        parsed.rest = format!("/{path}");
        Ok(parsed)
    }

    /// The URL with passwords as `***`.
    fn redacted(&self) -> String {
        if self.kind == Kind::Server {
            return format!("{}://{}", self.scheme, redact_userinfo_of(&self.rest));
        }
        let mut out = format!("{}://", self.scheme);
        match (&self.username, &self.password) {
            (Some(user), Some(_)) => out.push_str(&format!("{user}:***@")),
            (None, Some(_)) => out.push_str(":***@"),
            (Some(user), None) => out.push_str(&format!("{user}@")),
            (None, None) => {}
        }
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|(host, port)| host_port(host, *port))
            .collect();
        out.push_str(&hosts.join(","));
        out.push_str(&self.rest);
        out
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

type Credentials = (Option<String>, Option<String>);

fn split_userinfo(userinfo: &str) -> Result<Credentials, &'static str> {
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let user = (!user.is_empty())
        .then(|| percent_decode(user))
        .transpose()?;
    let password = password.map(percent_decode).transpose()?;
    Ok((user, password))
}

fn split_host_port(host: &str, default_port: u16) -> Result<(String, u16), &'static str> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (name, after) = v6.split_once(']').ok_or("an IPv6 address needs its ']'")?;
        (name, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() {
        return Err("a host is empty");
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| "a port is not a number")?,
        None => default_port,
    };
    Ok((name.to_string(), port))
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or("a '%' without two hex digits")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "a '%' without two hex digits")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a '%' without two hex digits")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoded text that is not UTF-8")
}

/// `url` with the password of its userinfo (if any) as `***`, for messages about URLs that
/// did not parse.
fn redact_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", redact_userinfo_of(rest)),
        None => "(not a URL)".to_string(),
    }
}

fn redact_userinfo_of(rest: &str) -> String {
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}{tail}"),
            None => rest.to_string(),
        },
        None => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_seed_nodes_and_credentials() {
        let p = ParsedUrl::parse("rediss+cluster://reprise:p%40ss@10.0.0.1:7000,[::1]:7001,h/")
            .unwrap();
        assert_eq!(p.kind, Kind::Cluster);
        assert!(p.tls);
        assert_eq!(p.username.as_deref(), Some("reprise"));
        assert_eq!(p.password.as_deref(), Some("p@ss"));
        assert_eq!(
            p.hosts,
            vec![
                ("10.0.0.1".to_string(), 7000),
                ("::1".to_string(), 7001),
                ("h".to_string(), 6379)
            ]
        );
        assert_eq!(
            p.redacted(),
            "rediss+cluster://reprise:***@10.0.0.1:7000,[::1]:7001,h:6379/"
        );
        assert!(ParsedUrl::parse("redis+cluster://h:1/3").is_err());
    }

    #[test]
    fn sentinel_urls_name_the_master_and_sentinel_credentials() {
        let p = ParsedUrl::parse(
            "redis+sentinel://:secret@s1,s2:26380/mymaster/2?sentinel_password=x%26y",
        )
        .unwrap();
        assert_eq!(
            p.kind,
            Kind::Sentinel {
                master: "mymaster".into(),
                db: 2
            }
        );
        assert_eq!(p.username, None);
        assert_eq!(p.password.as_deref(), Some("secret"));
        assert_eq!(p.sentinel_password.as_deref(), Some("x&y"));
        assert_eq!(p.hosts[0], ("s1".to_string(), 26379));
        assert_eq!(
            p.redacted(),
            "redis+sentinel://:***@s1:26379,s2:26380/mymaster/2"
        );
        assert!(ParsedUrl::parse("redis+sentinel://s1:1/").is_err());
        assert!(ParsedUrl::parse("redis+sentinel://s1:1/m?sentinel_pasword=x").is_err());
    }

    #[test]
    fn single_server_urls_keep_their_form_and_hide_the_password() {
        let p = ParsedUrl::parse("rediss://user:hunter2@127.0.0.1:6380/1").unwrap();
        assert_eq!(p.kind, Kind::Server);
        assert_eq!(p.password.as_deref(), Some("hunter2"));
        assert_eq!(p.redacted(), "rediss://user:***@127.0.0.1:6380/1");
        assert!(ParsedUrl::parse("http://h/").is_err());
        assert!(ParsedUrl::parse("127.0.0.1:6379").is_err());
        let e = ParsedUrl::parse("memcached://u:pw@h/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn endpoints_build_for_every_form_without_contacting_redis() {
        let t = Duration::from_millis(50);
        for url in [
            "redis://127.0.0.1:1/",
            "rediss://u:p@127.0.0.1:1/",
            "redis+cluster://127.0.0.1:1,127.0.0.1:2/",
            "rediss+cluster://u:p@127.0.0.1:1",
            "redis+sentinel://127.0.0.1:1/m",
            "rediss+sentinel://u:p@127.0.0.1:1/m/1",
        ] {
            let e = RedisEndpoint::open(url, t).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(!e.to_string().contains(":p@"), "{e}");
            // Nothing listens on ports 1 and 2: connecting fails, quickly, without a panic.
            assert!(e.connect().is_err(), "{url}");
        }
    }
}
