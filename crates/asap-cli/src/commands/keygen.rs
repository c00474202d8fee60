//! `asap keygen`: a new key pair, written into a private and a public key repository.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use asap_core::{Algorithm, KeyId, KeyKind, KeySpec, PrivateKey};

use super::{parse_algorithm, print_line};

const AFTER_HELP: &str = "\
Writes PRIVATE-DIR/ISS/NAME.pem (mode 0600) and PUBLIC-DIR/ISS/NAME.pem, and prints the kid,
ISS/NAME.pem. The public key is written first, so a service signing from PRIVATE-DIR never uses
a key that is not published yet. Publish PUBLIC-DIR with `asap serve-keys` or any static server;
PRIVATE-DIR/ISS may therefore be neither PUBLIC-DIR nor inside it.

RSA keys do not record their algorithm: sign with `asap token --alg PS256` for a PS256 key.

Example:
  asap keygen --issuer billing --alg ES256 --private-dir private --public-dir public
  billing/20261101T120000Z.pem";

/// Generate a key pair in repository layout and print its kid.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The issuer the key belongs to; the kid is ISS/NAME.pem
    #[arg(long, env = "ASAP_ISSUER", hide_env_values = true, value_name = "ISS")]
    issuer: String,

    /// The algorithm the key is for: RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA
    #[arg(long, default_value = "ES256", value_name = "ALG", value_parser = parse_algorithm)]
    alg: Algorithm,

    /// RSA key size in bits (RS*/PS* only)
    #[arg(long, value_name = "BITS", value_parser = ["2048", "3072", "4096"])]
    bits: Option<String>,

    /// The key's file name without `.pem` [default: the UTC time, e.g. 20261101T120000Z, so the
    /// newest key sorts last and becomes the active one]
    #[arg(long, value_name = "KEYNAME")]
    name: Option<String>,

    /// The private key repository: the key goes to DIR/ISS/NAME.pem, mode 0600
    #[arg(long, value_name = "DIR")]
    private_dir: PathBuf,

    /// The public key repository: the key goes to DIR/ISS/NAME.pem
    #[arg(long, value_name = "DIR")]
    public_dir: PathBuf,

    /// Replace existing files of the same name
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let issuer = KeyId::parse(&args.issuer).with_context(|| format!("invalid issuer {:?}", args.issuer))?;
    let name = match &args.name {
        Some(name) => name.strip_suffix(".pem").unwrap_or(name).to_owned(),
        None => utc_timestamp(SystemTime::now()),
    };
    // One segment, so that the kid is owned by ISS and by no other issuer.
    let kid = KeyId::for_issuer(issuer.as_str(), &format!("{name}.pem"))
        .with_context(|| format!("invalid key name {name:?} (it becomes the last segment of the kid)"))?;
    let spec = match (args.alg.key_kind(), &args.bits) {
        (KeyKind::Rsa, Some(bits)) => KeySpec::Rsa(bits.parse().context("--bits")?),
        (_, Some(_)) => bail!(
            "--bits applies to RSA algorithms (RS*, PS*) only, not {}",
            args.alg
        ),
        // RSA 3072 bits, or the algorithm's curve.
        (_, None) => KeySpec::for_algorithm(args.alg),
    };

    refuse_private_inside_public(&args.private_dir, issuer.as_str(), &args.public_dir)?;
    let private_path = args.private_dir.join(kid.as_str());
    let public_path = args.public_dir.join(kid.as_str());
    if !args.force {
        for path in [&public_path, &private_path] {
            if path.exists() {
                bail!("{} already exists; pass --force to replace it", path.display());
            }
        }
    }

    let key = PrivateKey::generate(spec).context("cannot generate the key")?;
    let private_pem = zeroize::Zeroizing::new(key.to_pkcs8_pem().context("cannot encode the private key")?);
    let public_pem = key.public_key().context("cannot derive the public key")?.to_pem();

    create_dir(&args.public_dir.join(issuer.as_str()), false)?;
    create_dir(&args.private_dir.join(issuer.as_str()), true)?;
    write_key_file(&public_path, public_pem.as_bytes(), false, args.force)?;
    write_key_file(&private_path, private_pem.as_bytes(), true, args.force)?;
    print_line(kid.as_str())
}

/// Refuses a private key directory (`PRIVATE-DIR/ISS`, where the key goes) that is the public
/// directory or inside it: the public directory is served over HTTP (`asap serve-keys --dir`,
/// a static server), and a private key in it would be served with the public keys. One
/// directory for both options is the common case; a private directory below the public one
/// (`--private-dir public/secret`, or `--public-dir private/ISS`) is the same leak. Both are
/// compared as the file system resolves them (symlinks, `.`, `..`), before anything is
/// created.
fn refuse_private_inside_public(private_dir: &Path, issuer: &str, public_dir: &Path) -> anyhow::Result<()> {
    let private = resolved(&private_dir.join(issuer))?;
    let public = resolved(public_dir)?;
    if private.starts_with(&public) {
        bail!(
            "--private-dir {} would put the private key inside --public-dir {} ({}), which is \
             meant to be served: keep private keys in a directory outside the public one",
            private_dir.display(),
            public_dir.display(),
            public.display()
        );
    }
    Ok(())
}

/// `path` as the file system resolves it, whether or not it exists yet: each existing prefix
/// canonicalised (symlinks followed), the rest appended with `.` and `..` resolved by name.
fn resolved(path: &Path) -> anyhow::Result<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let mut resolved = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => resolved.push(component),
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                resolved.push(name);
                match resolved.canonicalize() {
                    Ok(real) => resolved = real,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot resolve {}", resolved.display()));
                    }
                }
            }
        }
    }
    Ok(resolved)
}

fn create_dir(dir: &Path, private: bool) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    #[cfg(not(unix))]
    let _ = private;
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes the file next to its final name and moves it in place, so a service rescanning the
/// directory never reads half a key. Without `replace`, an existing file is never clobbered,
/// even one created since the check in [`run`].
fn write_key_file(path: &Path, contents: &[u8], private: bool, replace: bool) -> anyhow::Result<()> {
    let mut staging = path.as_os_str().to_owned();
    staging.push(".new");
    let staging = PathBuf::from(staging);
    // A `.pem.new` left by an interrupted run is ignored by key repositories; replace it.
    match std::fs::remove_file(&staging) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", staging.display()));
        }
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let written = options
        .open(&staging)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()));
    let moved = written.and_then(|()| {
        if replace {
            std::fs::rename(&staging, path)
        } else {
            std::fs::hard_link(&staging, path).and_then(|()| std::fs::remove_file(&staging))
        }
    });
    if let Err(e) = moved {
        let _ = std::fs::remove_file(&staging);
        if e.kind() == ErrorKind::AlreadyExists {
            bail!("{} already exists; pass --force to replace it", path.display());
        }
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    #[cfg(unix)]
    if private {
        // A replaced file keeps the new file's mode, but say so explicitly for `--force`.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict the permissions of {}", path.display()))?;
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC): fixed width, so names sort by time.
fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm, for
/// days after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_utc_and_sort_by_time() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101T000000Z");
        // 2000-02-29 23:59:59 UTC: a leap day in a century year.
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(951_868_799)),
            "20000229T235959Z"
        );
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_798_761_600)),
            "20270101T000000Z"
        );
        let a = utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_799_999_999));
        let b = utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        assert!(a < b, "{a} < {b}");
    }
}
