//! The one reader of a public key directory in repository layout: [`KeyDirectory`], shared by
//! [`DirectoryKeySource`](crate::DirectoryKeySource) and the key server.

use std::io::{ErrorKind, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use asap_core::{KeyError, KeyId, PublicKey};

use crate::MAX_KEY_BODY_BYTES;

/// How long reading one key file may take before the directory counts as unavailable.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A directory of public keys in repository layout: the key for kid `billing/k1.pem` is the file
/// `<root>/billing/k1.pem`. [`DirectoryKeySource`](crate::DirectoryKeySource) and the key server
/// both read through it, so that both apply the same rules to the same file:
///
/// 1. **Kid syntax.** The kid is a [`KeyId`]: ASCII segments, no empty, `.` or `..` segment, not
///    absolute; so `<root>/<kid>` names a path under the root before anything is resolved.
/// 2. **Stay under the root.** The path is resolved (symbolic links included) and must still lie
///    inside the resolved root; a link that points elsewhere is [`DirectoryError::OutsideRoot`].
///    The resolved path is then opened without following a symbolic link in its last component.
/// 3. **Regular files only.** The file is opened non-blocking and checked on the opened handle: a
///    FIFO, a device, a socket or a directory is [`DirectoryError::NotRegularFile`], and opening
///    a FIFO never waits for a writer. The whole read is bounded by a timeout
///    ([`DEFAULT_READ_TIMEOUT`]) in case the file system itself hangs.
/// 4. **Bounded size.** At most [`MAX_KEY_BODY_BYTES`](crate::MAX_KEY_BODY_BYTES) bytes are read.
/// 5. **Only a public key comes out.** A file that mentions private key material anywhere (a
///    `PRIVATE KEY` block, even a damaged one, or a PuTTY key) is
///    [`DirectoryError::PrivateKeyMaterial`]; otherwise the text must be exactly one PEM public
///    key that [`PublicKey::from_pem`] accepts. What callers get is the parsed key, and
///    [`PublicKey::to_pem`] re-serialises it: text around the block never leaves.
///
/// Every error but [`DirectoryError::Unavailable`] means "there is no key for this kid here"
/// ([`DirectoryError::is_not_a_key`]); the server answers all of them with one identical 404 so
/// that a client cannot tell a missing file from a file that is not a key, and keeps the reason
/// for its log.
///
/// A race remains between resolving the path and opening it: someone who can rename directories
/// inside the root could make the open reach another file. What leaves is still only a parsed
/// public key, never the bytes of the file.
///
/// The root is resolved on each read, so a directory that appears or moves later is followed.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = asap_keys::KeyDirectory::new("/etc/asap/public-keys");
/// let key = keys.read(&asap_core::KeyId::parse("billing/k1.pem")?).await?;
/// print!("{}", key.to_pem()); // the canonical PEM, whatever else the file held
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KeyDirectory {
    root: PathBuf,
    read_timeout: Duration,
}

/// Why a [`KeyDirectory`] has no key to give for a kid. Messages never include file contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// No file at `<root>/<kid>` (or a component of the path is not a directory).
    #[error("no such file")]
    Missing,
    /// The path resolves (through a symbolic link) to a place outside the root.
    #[error("the path resolves outside the key directory")]
    OutsideRoot,
    /// A directory, FIFO, device or socket: only regular files hold keys.
    #[error("not a regular file")]
    NotRegularFile,
    /// The file exists but cannot be opened (permissions, a symbolic link swapped in, a name
    /// too long).
    #[error("the file cannot be read ({0})")]
    Unreadable(ErrorKind),
    /// Larger than [`MAX_KEY_BODY_BYTES`](crate::MAX_KEY_BODY_BYTES): not a public key.
    #[error("the file is larger than {MAX_KEY_BODY_BYTES} bytes")]
    TooLarge,
    /// The file holds private key material (in any PEM or PuTTY form, damaged or not); it is
    /// never served, whatever else it holds.
    #[error("the file holds private key material")]
    PrivateKeyMaterial,
    /// Not exactly one PEM public key that [`PublicKey::from_pem`] accepts.
    #[error("the file is not a PEM public key: {0}")]
    InvalidKey(#[source] KeyError),
    /// The root cannot be resolved, or the read failed or timed out: the directory cannot answer
    /// now, and the key may exist.
    #[error("the key directory cannot be read: {0}")]
    Unavailable(#[source] std::io::Error),
}

impl DirectoryError {
    /// Whether this means "no key for this kid here" (every variant but
    /// [`Unavailable`](DirectoryError::Unavailable)).
    pub fn is_not_a_key(&self) -> bool {
        !matches!(self, DirectoryError::Unavailable(_))
    }
}

impl KeyDirectory {
    /// The directory at `root` (not checked until [`check`](KeyDirectory::check) or a read).
    pub fn new(root: impl Into<PathBuf>) -> KeyDirectory {
        KeyDirectory {
            root: root.into(),
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// How long one read may take ([`DEFAULT_READ_TIMEOUT`] unless set).
    #[must_use]
    pub fn read_timeout(mut self, timeout: Duration) -> KeyDirectory {
        self.read_timeout = timeout;
        self
    }

    /// The root as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks that the root exists and is a directory; gives its resolved path.
    pub async fn check(&self) -> std::io::Result<PathBuf> {
        let root = tokio::fs::canonicalize(&self.root).await?;
        if !tokio::fs::metadata(&root).await?.is_dir() {
            return Err(std::io::Error::new(ErrorKind::NotADirectory, "not a directory"));
        }
        Ok(root)
    }

    /// Reads the public key of `kid` under the rules of [`KeyDirectory`].
    pub async fn read(&self, kid: &KeyId) -> Result<PublicKey, DirectoryError> {
        let root = self.root.clone();
        let kid = kid.clone();
        let read = tokio::task::spawn_blocking(move || read_blocking(&root, &kid));
        match tokio::time::timeout(self.read_timeout, read).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(DirectoryError::Unavailable(std::io::Error::other(join))),
            Err(_) => Err(DirectoryError::Unavailable(std::io::Error::new(
                ErrorKind::TimedOut,
                format!("reading the key file took longer than {:?}", self.read_timeout),
            ))),
        }
    }
}

fn read_blocking(root: &Path, kid: &KeyId) -> Result<PublicKey, DirectoryError> {
    let root = std::fs::canonicalize(root).map_err(DirectoryError::Unavailable)?;
    let resolved = match std::fs::canonicalize(root.join(kid.as_str())) {
        Ok(resolved) => resolved,
        Err(e) => return Err(per_file_error(e)),
    };
    if !resolved.starts_with(&root) {
        return Err(DirectoryError::OutsideRoot);
    }
    let file = open_no_follow(&resolved).map_err(per_file_error)?;
    let meta = file.metadata().map_err(per_file_error)?;
    if !meta.is_file() {
        return Err(DirectoryError::NotRegularFile);
    }
    if meta.len() > MAX_KEY_BODY_BYTES as u64 {
        return Err(DirectoryError::TooLarge);
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_BODY_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(per_file_error)?;
    if bytes.len() > MAX_KEY_BODY_BYTES {
        return Err(DirectoryError::TooLarge);
    }
    parse_public_key_file(&bytes)
}

/// The content rule (5. of the module documentation), apart from the file system.
fn parse_public_key_file(bytes: &[u8]) -> Result<PublicKey, DirectoryError> {
    if holds_private_key_material(bytes) {
        return Err(DirectoryError::PrivateKeyMaterial);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DirectoryError::InvalidKey(KeyError::Pem("not UTF-8 text".to_owned())))?;
    // A private key's PEM label mentions "private key", refused above.
    PublicKey::from_pem(text).map_err(DirectoryError::InvalidKey)
}

/// Any mention of a private key, in any case, even in a block whose framing is broken (a PEM
/// parser skips such a block, and the rest of the file would pass as a public key), and PuTTY's
/// private key files.
fn holds_private_key_material(bytes: &[u8]) -> bool {
    const MARKERS: [&[u8]; 2] = [b"private key", b"putty-user-key-file"];
    MARKERS.iter().any(|marker| {
        bytes
            .windows(marker.len())
            .any(|window| window.eq_ignore_ascii_case(marker))
    })
}

/// Opens for reading without following a symbolic link in the last component and without
/// blocking on a FIFO (its open would otherwise wait for a writer).
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Errors about the file itself are "not a key here"; any other (out of file descriptors or
/// memory, an I/O error) means the directory cannot answer now, and the key may exist.
fn per_file_error(e: std::io::Error) -> DirectoryError {
    // O_NOFOLLOW on a symbolic link (swapped in after the path was resolved).
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return DirectoryError::Unreadable(e.kind());
    }
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => DirectoryError::Missing,
        ErrorKind::IsADirectory => DirectoryError::NotRegularFile,
        kind @ (ErrorKind::PermissionDenied | ErrorKind::InvalidFilename) => DirectoryError::Unreadable(kind),
        _ => DirectoryError::Unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec, PrivateKey};

    use super::*;

    fn key() -> PrivateKey {
        PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key")
    }

    #[test]
    fn text_around_the_block_is_dropped_by_re_serialising() {
        let public = key().public_key().expect("public").to_pem();
        let file = format!("a comment\n{public}trailing words\n");
        let parsed = parse_public_key_file(file.as_bytes()).expect("a public key");
        assert_eq!(parsed.to_pem(), public);
    }

    #[test]
    fn any_private_key_marker_refuses_the_whole_file() {
        let key = key();
        let public = key.public_key().expect("public").to_pem();
        let private = key.to_pkcs8_pem().expect("pem");
        let damaged = private.replace("-----END PRIVATE KEY-----", "-----END PRIVATE KEY----");
        for file in [
            private.clone(),
            format!("{public}{damaged}"),
            format!("{public}{}", private.to_lowercase()),
            format!("{public}PuTTY-User-Key-File-3: ecdsa-sha2-nistp256\n"),
        ] {
            assert!(
                matches!(
                    parse_public_key_file(file.as_bytes()),
                    Err(DirectoryError::PrivateKeyMaterial)
                ),
                "{file}"
            );
        }
    }

    #[test]
    fn only_unavailable_is_not_a_not_a_key() {
        assert!(DirectoryError::Missing.is_not_a_key());
        assert!(DirectoryError::PrivateKeyMaterial.is_not_a_key());
        assert!(!DirectoryError::Unavailable(std::io::Error::other("x")).is_not_a_key());
    }
}
