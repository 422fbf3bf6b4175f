//! `reprise serve --config reprise.toml`: every `serve` flag as a key of a TOML file, flags on
//! the command line overriding it. Keys are the flags' long names (`session-cache` or
//! `session_cache`); a key that names no flag is refused with its name. Certificates, many
//! as they may be, come as a table array:
//!
//! ```toml
//! listen = "0.0.0.0:443"
//! driver = "uring"
//! backend = "127.0.0.1:8080"
//! proxy-protocol = "v2"
//! session-cache = "64MiB"
//! quiet = true
//!
//! [[certificate]]
//! cert = "/etc/reprise/example.com.pem"
//! key = "/etc/reprise/example.com.key"
//! ```
//!
//! The file becomes flags placed before the command line's, so a flag given on both wins
//! from the command line; certificates given on the command line replace the file's. A
//! relative path in the file (certificates, keys, key files, the key log, the control
//! socket) is relative to the file's directory, not to where the server was started. An
//! error names the file, the line and the key.

use std::path::Path;

use clap::{ArgAction, Args, FromArgMatches};

use super::args::ServeArgs;

/// Keys whose values are paths, resolved against the config file's directory.
const PATH_KEYS: [&str; 8] = [
    "access-log",
    "client-ca",
    "client-crl",
    "ticket-key-file",
    "keylog",
    "session-store-key",
    "kek",
    "control",
];

/// The 1-based line of the file on which `key` (either spelling) is set, or on which the
/// `n`-th `[[key]]` table starts when `table` is given.
fn line_of(text: &str, key: &str, table: Option<usize>) -> Option<usize> {
    let spellings = [key.replace('_', "-"), key.replace('-', "_")];
    let mut tables = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        match table {
            Some(n) => {
                if line.starts_with(&format!("[[{key}]]")) {
                    if tables == n {
                        return Some(i + 1);
                    }
                    tables += 1;
                }
            }
            None => {
                let named = spellings.iter().any(|k| {
                    line.strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                });
                if named {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

/// `value` as a path relative to the config file's directory, when it is relative.
fn relative_to(dir: &Path, value: &str) -> String {
    // `-` is standard output (`access-log = "-"`), not a file named `-`.
    if Path::new(value).is_absolute() || value.is_empty() || value == "-" {
        value.to_string()
    } else {
        dir.join(value).to_string_lossy().into_owned()
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The `serve` options of `path`, overridden by the command line's `command_line` (the
/// words after `serve`).
/// The file's settings as written (for a reload to see which changed).
pub fn settings(path: &str) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {path}: {e}"))?;
    text.parse().map_err(|e| format!("--config {path}: {e}"))
}

pub fn serve_args(path: &str, command_line: &[String]) -> Result<ServeArgs, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("--config {path}: {e}"))?;
    let command = ServeArgs::augment_args(clap::Command::new("serve")).args_override_self(true);
    let certificates_on_command_line = command_line.iter().any(|w| w == "--cert");
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    let at = |key: &str, table: Option<usize>| match line_of(&text, key, table) {
        Some(line) => format!("--config {path} line {line}"),
        None => format!("--config {path}"),
    };
    let mut words = vec!["serve".to_string()];
    for (key, value) in &table {
        if let ("client-auth" | "client_auth", toml::Value::Table(auth)) = (key.as_str(), value) {
            // [client-auth]: mode = "required" | "optional", ca = path(s), crl = path(s).
            for (name, setting) in auth {
                let flag = match name.as_str() {
                    "mode" => "--client-auth",
                    "ca" => "--client-ca",
                    "crl" => "--client-crl",
                    other => {
                        return Err(format!(
                            "{}: unknown key `client-auth.{other}` (a [client-auth] table has \
                             `mode`, `ca` and `crl`)",
                            at(other, None)
                        ))
                    }
                };
                let values = match setting {
                    toml::Value::String(v) => vec![v.as_str()],
                    toml::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect(),
                    _ => {
                        return Err(format!(
                            "{}: `client-auth.{name}` is a string or a list of strings",
                            at(name, None)
                        ))
                    }
                };
                for v in values {
                    let v = if name == "mode" {
                        v.to_string()
                    } else {
                        relative_to(dir, v)
                    };
                    words.extend([flag.to_string(), v]);
                }
            }
            continue;
        }
        if key == "certificate" {
            if certificates_on_command_line {
                continue;
            }
            let toml::Value::Array(pairs) = value else {
                return Err(format!(
                    "--config {path}: `certificate` must be [[certificate]] tables"
                ));
            };
            for (n, pair) in pairs.iter().enumerate() {
                if let Some(extra) = pair
                    .as_table()
                    .and_then(|t| t.keys().find(|k| *k != "cert" && *k != "key"))
                {
                    return Err(format!(
                        "{}: unknown key `certificate.{extra}` (a [[certificate]] has `cert` \
                         and `key`)",
                        at("certificate", Some(n))
                    ));
                }
                let (Some(cert), Some(key)) = (
                    pair.get("cert").and_then(|v| v.as_str()),
                    pair.get("key").and_then(|v| v.as_str()),
                ) else {
                    return Err(format!(
                        "{}: each [[certificate]] needs `cert` and `key` paths",
                        at("certificate", Some(n))
                    ));
                };
                words.extend([
                    "--cert".into(),
                    relative_to(dir, cert),
                    "--key".into(),
                    relative_to(dir, key),
                ]);
            }
            continue;
        }
        let long = key.replace('_', "-");
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config" && long != "check")
        else {
            return Err(format!("{}: unknown key `{key}`", at(key, None)));
        };
        let flag = format!("--{long}");
        let first_word = words.len();
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
                if *on {
                    words.push(flag);
                }
            }
            (ArgAction::SetTrue, _) => {
                return Err(format!("{}: `{key}` is true or false", at(key, None)));
            }
            (_, toml::Value::String(s)) if PATH_KEYS.contains(&long.as_str()) => {
                words.extend([flag, relative_to(dir, s)])
            }
            (_, toml::Value::String(s)) => words.extend([flag, s.clone()]),
            (_, toml::Value::Integer(n)) => words.extend([flag, n.to_string()]),
            (_, toml::Value::Boolean(on)) => {
                words.extend([flag, if *on { "on" } else { "off" }.to_string()])
            }
            (_, toml::Value::Array(items)) => {
                for item in items {
                    let word = match item {
                        toml::Value::String(s) if PATH_KEYS.contains(&long.as_str()) => {
                            relative_to(dir, s)
                        }
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(n) => n.to_string(),
                        _ => {
                            return Err(format!(
                                "{}: `{key}` lists strings or numbers only",
                                at(key, None)
                            ))
                        }
                    };
                    words.extend([flag.clone(), word]);
                }
            }
            _ => {
                return Err(format!(
                    "{}: `{key}` has a value of the wrong kind",
                    at(key, None)
                ))
            }
        }
        // Each value checked on its own, so that a bad one is blamed on its line.
        let alone = std::iter::once("serve".to_string()).chain(words[first_word..].iter().cloned());
        if let Err(e) = command.clone().try_get_matches_from(alone) {
            return Err(format!("{}: `{key}`: {}", at(key, None), clap_message(&e)));
        }
    }
    words.extend(command_line.iter().cloned());
    let matches = command
        .try_get_matches_from(&words)
        .map_err(|e| format!("--config {path}: {}", clap_message(&e)))?;
    ServeArgs::from_arg_matches(&matches).map_err(|e| format!("--config {path}: {e}"))
}

/// The words after `serve` on this process's command line.
pub fn command_line_after_serve() -> Vec<String> {
    std::env::args()
        .skip_while(|w| w != "serve")
        .skip(1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> String {
        let path = std::env::temp_dir().join(format!(
            "reprise-config-test-{}-{}.toml",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn the_file_says_what_flags_say_and_flags_win() {
        let path = file(
            "listen = \"127.0.0.1:9443\"\ndriver = \"uring\"\nsession_cache = \"1MiB\"\nquiet = true\nworkers = 3\ntickets = false\n\n[[certificate]]\ncert = \"a.pem\"\nkey = \"a.key\"\n[[certificate]]\ncert = \"b.pem\"\nkey = \"b.key\"\n",
        );
        let args = serve_args(&path, &[]).unwrap();
        assert_eq!(args.listen, ["127.0.0.1:9443"]);
        assert_eq!(args.driver, super::super::args::DriverChoice::Uring);
        assert_eq!(args.session_cache.as_deref(), Some("1MiB"));
        assert!(args.quiet);
        assert_eq!(args.workers, 3);
        assert_eq!(args.tickets, super::super::args::OnOff::Off);
        // Relative to the file's directory.
        let dir = std::path::Path::new(&path).parent().unwrap();
        let at = |name: &str| dir.join(name).to_string_lossy().into_owned();
        assert_eq!(args.cert, [at("a.pem"), at("b.pem")]);
        assert_eq!(args.key, [at("a.key"), at("b.key")]);
        let args = serve_args(
            &path,
            &[
                "--driver".into(),
                "mio".into(),
                "--cert".into(),
                "c.pem".into(),
                "--key".into(),
                "c.key".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            args.driver,
            super::super::args::DriverChoice::Mio,
            "the command line wins"
        );
        assert_eq!(args.cert, ["c.pem"], "its certificates replace the file's");
        assert_eq!(args.listen, ["127.0.0.1:9443"]);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let path = file("listen = \"127.0.0.1:1\"\nlisten_backlog = 5\n");
        let err = serve_args(&path, &[]).unwrap_err();
        assert!(
            err.ends_with("line 2: unknown key `listen_backlog`"),
            "{err}"
        );
        let path2 =
            file("quiet = true\n[[certificate]]\ncert = \"a\"\nkey = \"b\"\npassword = \"x\"\n");
        let err = serve_args(&path2, &[]).unwrap_err();
        assert!(
            err.contains("line 2: unknown key `certificate.password`"),
            "{err}"
        );
        let auth = file(
            "quiet = true\n[client-auth]\nmode = \"optional\"\nca = [\"a.pem\", \"/b.pem\"]\ncrl = \"c.crl\"\n",
        );
        let args = serve_args(&auth, &[]).unwrap();
        let dir = std::path::Path::new(&auth).parent().unwrap();
        assert_eq!(args.client_auth, "optional");
        assert_eq!(
            args.client_ca,
            [
                dir.join("a.pem").to_string_lossy().into_owned(),
                "/b.pem".into()
            ]
        );
        assert_eq!(
            args.client_crl,
            [dir.join("c.crl").to_string_lossy().into_owned()]
        );
        let stdout = file("access-log = \"-\"\nquiet = true\n");
        assert_eq!(
            serve_args(&stdout, &[]).unwrap().access_log.as_deref(),
            Some("-")
        );
        let wrong = file("[client-auth]\nroots = \"a.pem\"\n");
        let err = serve_args(&wrong, &[]).unwrap_err();
        assert!(err.contains("unknown key `client-auth.roots`"), "{err}");
        let path4 = file("listen = \"127.0.0.1:1\"\n\nsession-timeout = \"ten\"\n");
        let err = serve_args(&path4, &[]).unwrap_err();
        assert!(
            err.contains("line 3: `session-timeout`: invalid value 'ten'"),
            "{err}"
        );
        assert_eq!(err.matches("error").count(), 0, "{err}");
        let path3 = file("quiet = \"yes\"\n");
        assert!(serve_args(&path3, &[])
            .unwrap_err()
            .contains("true or false"));
        for p in [path, path2, path3, path4] {
            std::fs::remove_file(p).unwrap();
        }
    }
}
