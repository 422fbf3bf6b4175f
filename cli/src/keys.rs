//! `reprise keys`: generate and inspect session-ticket key files.
//!
//! * `reprise keys generate [--format nginx48|nginx80|haproxy|reprise] [--out FILE]` makes a
//!   file of fresh keys (default format `reprise`). With `--out`, the file is created with
//!   mode 0600 and an existing file is never overwritten (write a new file and rename it over
//!   the old one to rotate). Without `--out`, text formats go to stdout as they are and the
//!   binary nginx formats as one line of base64 (`base64 -d > ticket.key` restores the file).
//! * `reprise keys show FILE` prints the detected format, the number of keys and their names
//!   in hex, marking the one that encrypts. It never prints secrets.

use std::io::Write;
use std::path::{Path, PathBuf};

use reprise::rng::SystemRandom;
use reprise::session::{encode_base64, generate_key_file, read_key_file, KeyFileFormat};

/// Arguments of `reprise keys`.
#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Generate a ticket key file of fresh random keys.
    Generate {
        /// File format: nginx48 and nginx80 are nginx's binary `ssl_session_ticket_key`
        /// files, haproxy is `tls-ticket-keys` base64 lines (three keys), reprise is
        /// Reprise's own text format.
        #[arg(long, value_enum, default_value_t = FormatArg::Reprise)]
        format: FormatArg,
        /// Write to this new file (mode 0600, never overwriting); without it, write to
        /// stdout, binary formats as base64.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show a key file's format and key names (never its secrets).
    Show {
        /// The key file.
        file: PathBuf,
    },
    /// Run the fleet's central ticket-key generator: a new key every --rotate, each kept for
    /// twice the ticket lifetime after it stops encrypting, published to Redis wrapped under
    /// the key-encryption key (servers follow with `serve --ticket-keys-from`).
    Publish {
        /// Redis URL: redis://H:P/, redis+cluster://H1:P1,…/ or redis+sentinel://S1:P1,…/MASTER
        /// (rediss… for TLS, USER:PASS@ for an ACL user). Several publishers may share one
        /// Redis: one leads (a lease), the others stand by and take over.
        #[arg(long)]
        redis: String,
        /// How often a new key starts encrypting.
        #[arg(long, default_value = "1h")]
        rotate: String,
        /// Ticket lifetime the servers use; old keys decrypt for twice this.
        #[arg(long, default_value = "1h")]
        lifetime: String,
        /// Key-encryption key file (≥ 32 random bytes, shared with the servers out of band).
        #[arg(long)]
        kek: PathBuf,
    },
    /// Write a fresh 32-byte secret file (a key-encryption key or a session-store key).
    Secret {
        /// The new file (mode 0600, never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Nginx48,
    Nginx80,
    Haproxy,
    Reprise,
}

impl From<FormatArg> for KeyFileFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Nginx48 => Self::Nginx48,
            FormatArg::Nginx80 => Self::Nginx80,
            FormatArg::Haproxy => Self::Haproxy,
            FormatArg::Reprise => Self::Reprise,
        }
    }
}

/// Runs `reprise keys`.
pub fn run(args: KeysArgs) -> Result<(), String> {
    match args.command {
        KeysCommand::Generate { format, out } => generate(format.into(), out.as_deref()),
        KeysCommand::Show { file } => show(&file),
        KeysCommand::Publish {
            redis,
            rotate,
            lifetime,
            kek,
        } => publish(&redis, &rotate, &lifetime, &kek),
        KeysCommand::Secret { out } => secret(&out),
    }
}

fn secret(out: &Path) -> Result<(), String> {
    let mut bytes = zeroize_bytes();
    reprise::rng::RandomSource::fill(&SystemRandom, &mut bytes)
        .map_err(|_| "randomness failed".to_string())?;
    let mut file = create_private(out).map_err(|e| format!("{}: {e}", out.display()))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    bytes.fill(0);
    std::hint::black_box(&bytes);
    eprintln!("wrote a 32-byte secret to {}", out.display());
    Ok(())
}

fn zeroize_bytes() -> [u8; 32] {
    [0u8; 32]
}

fn publish(url: &str, rotate: &str, lifetime: &str, kek: &Path) -> Result<(), String> {
    use reprise_fleet::keys::{run_publisher, Publisher, KEK_PURPOSE};
    let rotate = reprise_serve::units::seconds(rotate)?.as_secs();
    let lifetime = reprise_serve::units::seconds(lifetime)?.as_secs();
    let kek = reprise_fleet::seal::SealKey::from_file(kek, KEK_PURPOSE)?;
    let publisher = Publisher::new(kek, rotate, 2 * lifetime);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let endpoint =
        reprise_fleet::endpoint::RedisEndpoint::open(url, std::time::Duration::from_secs(1))?;
    println!(
        "publishing ticket keys to {endpoint}: rotate every {rotate} s, decrypt window {} s",
        2 * lifetime
    );
    std::io::stdout().flush().ok();
    run_publisher(
        &endpoint,
        publisher,
        std::time::Duration::from_secs(5),
        &SystemRandom,
        &stop,
        |line| {
            println!("{line}");
            let _ = std::io::stdout().flush();
        },
    )?;
    Ok(())
}

fn generate(format: KeyFileFormat, out: Option<&Path>) -> Result<(), String> {
    let contents = generate_key_file(format, &SystemRandom).map_err(|e| e.to_string())?;
    match out {
        Some(path) => {
            let mut file = create_private(path).map_err(|e| format!("{}: {e}", path.display()))?;
            file.write_all(&contents)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {} key file {}", format, path.display());
            Ok(())
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            let written = if format.is_binary() {
                let text = encode_base64(&contents);
                writeln!(stdout, "{}", text.as_str())
            } else {
                stdout.write_all(&contents)
            };
            written
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("stdout: {e}"))
        }
    }
}

/// Creates `path`, failing if it exists, readable and writable by the owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn show(path: &Path) -> Result<(), String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed = read_key_file(&bytes);
    // Best-effort wipe of the raw file contents (the parsed keys wipe themselves).
    bytes.fill(0);
    std::hint::black_box(&bytes);
    let file = parsed.map_err(|e| format!("{}: {e}", path.display()))?;
    let description = match file.format {
        KeyFileFormat::Nginx48 => "nginx ssl_session_ticket_key, 48 bytes",
        KeyFileFormat::Nginx80 => "nginx ssl_session_ticket_key, 80 bytes",
        KeyFileFormat::Haproxy => "HAProxy tls-ticket-keys, the penultimate key encrypts",
        KeyFileFormat::Reprise => "reprise-ticket-key v1, the first key encrypts",
        _ => "a format newer than this description",
    };
    println!("file:   {}", path.display());
    println!("format: {} ({description})", file.format);
    println!("keys:   {}", file.keys.len());
    for (i, key) in file.keys.iter().enumerate() {
        let role = if i == 0 { "encrypts" } else { "decrypts" };
        let name: String = key.name.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {role}  {name}");
    }
    Ok(())
}
