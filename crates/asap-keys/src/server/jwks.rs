//! The directory as one JWK set, for `GET /.well-known/jwks.json`: every key file the
//! directory holds, each read by [`KeyDirectory::read`] under the same rules as `GET /<kid>`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::{KeyId, PublicKey};
use bytes::Bytes;

use crate::directory::KeyDirectory;
use crate::{JwkSet, MAX_JWKS_KEYS};

/// The path the key set is published at (RFC 8615 well-known URI; the name OpenID Connect and
/// Forge use).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Directory levels walked below the root (an issuer's kid `team/billing/k1.pem` is two).
const MAX_DEPTH: usize = 8;

/// Directory entries looked at in one walk, whatever the directory holds.
const MAX_ENTRIES: usize = 10_000;

/// The longest a request waits for the build in progress, and then for its own, before it is
/// answered 503: the walk itself has no other bound on a file system that stops answering.
const BUILD_TIMEOUT: Duration = Duration::from_secs(10);

/// The key set document of one directory, built by one request at a time. A build walks the
/// directory and reads every key file (up to [`MAX_JWKS_KEYS`] reads, a hundred times a
/// `GET /<kid>`), so a flood of key set requests must not cost one build each; and a key
/// written to the directory must be in the set of every request made after it (a client that
/// fetches the set for a kid it has just seen would otherwise wait out its refetch cooldown).
///
/// So a request takes the outcome of the first build that started after it arrived: a build in
/// progress when it arrives may have walked the directory before the change it is asking about,
/// so it waits for that one to end and then builds, or takes the outcome of the build another
/// waiter started meanwhile. Under a flood, builds run back to back, each answering every request
/// that arrived during the one before. Failures are shared the same way.
#[derive(Default)]
pub(crate) struct KeySetCache {
    last: tokio::sync::Mutex<Option<Built>>,
}

/// The outcome of one build, and when it started.
struct Built {
    started: Instant,
    outcome: Result<Bytes, Arc<io::Error>>,
}

impl KeySetCache {
    /// The key set of `dir`, from a build that started after this call did.
    pub(crate) async fn get(&self, dir: &KeyDirectory) -> Result<Bytes, Arc<io::Error>> {
        let arrived = Instant::now();
        let timed_out = || {
            Arc::new(io::Error::new(
                io::ErrorKind::TimedOut,
                "building the key set timed out",
            ))
        };
        let mut last = tokio::time::timeout(BUILD_TIMEOUT, self.last.lock())
            .await
            .map_err(|_| timed_out())?;
        if let Some(built) = &*last
            && built.started >= arrived
        {
            return built.outcome.clone();
        }
        let started = Instant::now();
        let outcome = match tokio::time::timeout(BUILD_TIMEOUT, directory_jwks(dir)).await {
            Ok(Ok(json)) => Ok(Bytes::from(json)),
            Ok(Err(e)) => Err(Arc::new(e)),
            Err(_) => Err(timed_out()),
        };
        *last = Some(Built {
            started,
            outcome: outcome.clone(),
        });
        outcome
    }
}

/// The JWK set document of every key in `dir`, kids sorted. Files that are not a public key
/// here (private key material, not a regular file, …) are left out, as `GET /<kid>` answers
/// them 404. More than [`MAX_JWKS_KEYS`] keys is an error (the set would be refused by this
/// library's own client), as is a directory that cannot be walked.
async fn directory_jwks(dir: &KeyDirectory) -> io::Result<String> {
    let root = dir.check().await?;
    let kids = tokio::task::spawn_blocking(move || list_kids(&root))
        .await
        .map_err(io::Error::other)??;
    let mut keys: Vec<(KeyId, PublicKey)> = Vec::with_capacity(kids.len());
    for kid in kids {
        match dir.read(&kid).await {
            Ok(key) => keys.push((kid, key)),
            Err(e) if e.is_not_a_key() => tracing::debug!(%kid, reason = %e, "left out of the key set"),
            Err(e) => return Err(io::Error::other(e)),
        }
        if keys.len() > MAX_JWKS_KEYS {
            return Err(io::Error::other(format!(
                "the directory holds more than {MAX_JWKS_KEYS} keys, more than a key set may"
            )));
        }
    }
    Ok(JwkSet::to_json(keys.iter().map(|(kid, key)| (kid, key))))
}

/// The kids of the regular files under `root` (symbolic links to directories are not followed,
/// so the walk ends), sorted; names that are not a valid kid are skipped.
fn list_kids(root: &Path) -> io::Result<Vec<KeyId>> {
    let mut kids = Vec::new();
    let mut pending: Vec<(PathBuf, usize)> = vec![(root.to_owned(), 0)];
    let mut seen = 0;
    while let Some((dir, depth)) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(io::Error::other(format!(
                    "the directory holds more than {MAX_ENTRIES} entries"
                )));
            }
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() && depth + 1 < MAX_DEPTH {
                pending.push((path, depth + 1));
            } else if kind.is_file() || kind.is_symlink() {
                let Some(kid) = path
                    .strip_prefix(root)
                    .ok()
                    .and_then(Path::to_str)
                    .and_then(|name| KeyId::parse(name).ok())
                else {
                    continue;
                };
                kids.push(kid);
            }
        }
    }
    kids.sort();
    Ok(kids)
}
