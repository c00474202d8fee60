//! The directory as one JWK set, for `GET /.well-known/jwks.json`: every key file the
//! directory holds, each read by [`KeyDirectory::read`] under the same rules as `GET /<kid>`.

use std::io;
use std::path::{Path, PathBuf};

use asap_core::{KeyId, PublicKey};

use crate::directory::KeyDirectory;
use crate::{JwkSet, MAX_JWKS_KEYS};

/// The path the key set is published at (RFC 8615 well-known URI; the name OpenID Connect and
/// Forge use).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Directory levels walked below the root (an issuer's kid `team/billing/k1.pem` is two).
const MAX_DEPTH: usize = 8;

/// Directory entries looked at in one walk, whatever the directory holds.
const MAX_ENTRIES: usize = 10_000;

/// The JWK set document of every key in `dir`, kids sorted. Files that are not a public key
/// here (private key material, not a regular file, …) are left out, as `GET /<kid>` answers
/// them 404. More than [`MAX_JWKS_KEYS`] keys is an error (the set would be refused by this
/// library's own client), as is a directory that cannot be walked.
pub(crate) async fn directory_jwks(dir: &KeyDirectory) -> io::Result<String> {
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
