//! The private key repository on disk: `<dir>/<issuer>/*.pem`, the lexicographically last file
//! being the key to sign with. Rotating a key is copying in a new file (write it as
//! `name.pem.new`, then rename): running services pick it up without a restart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use asap_core::{Algorithm, KeyId, SignError, SigningKey, SigningKeySource};
use zeroize::Zeroizing;

use crate::error::LoadError;
use crate::formats::{parse_private_key, read_key_file};

/// How often the directory is re-read by default.
pub const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_secs(10);

/// Signing keys from a private key repository directory, `<dir>/<issuer>/*.pem`.
///
/// The active key is the `.pem` file whose name sorts last (so date-named files such as
/// `2026-11-01.pem` rotate naturally); its kid is `<issuer>/<file name>`, which is where the
/// matching public key is published. Other names (`.pem.new`, `.pub`, hidden files) are
/// ignored, and so is a `.pem` file whose name is not a valid kid segment.
///
/// The directory is read again at most once per
/// [`rescan_interval`](FileKeyRepositoryBuilder::rescan_interval) (default 10 s), inline in
/// [`current`](SigningKeySource::current) by whichever signature comes first, never on every
/// signature; a file is parsed only when the active name, size or modification time changes.
/// If a new active file is unusable, the previous key stays in use and a warning is logged.
///
/// ```no_run
/// use std::sync::Arc;
/// use asap_keys::FileKeyRepository;
///
/// let keys = FileKeyRepository::builder("/etc/asap/private-keys", "billing").build()?;
/// let signer = asap_core::Signer::builder("billing").key_source(Arc::new(keys)).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileKeyRepository {
    dir: PathBuf,
    issuer: KeyId,
    alg: Option<Algorithm>,
    passphrase: Option<Zeroizing<Vec<u8>>>,
    interval: Duration,
    key: RwLock<Arc<SigningKey>>,
    scan: Mutex<ScanState>,
}

struct ScanState {
    next: Instant,
    stamp: Stamp,
}

/// What identifies the file a key was read from, to skip re-parsing an unchanged file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    name: String,
    len: u64,
    modified: Option<SystemTime>,
}

impl fmt::Debug for FileKeyRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeyRepository")
            .field("dir", &self.dir)
            .field("rescan_interval", &self.interval)
            .field("kid", self.current_key().kid())
            .finish_non_exhaustive()
    }
}

/// Configures a [`FileKeyRepository`].
#[must_use]
pub struct FileKeyRepositoryBuilder {
    root: PathBuf,
    issuer: String,
    alg: Option<Algorithm>,
    passphrase: Option<Zeroizing<Vec<u8>>>,
    interval: Duration,
}

impl fmt::Debug for FileKeyRepositoryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeyRepositoryBuilder")
            .field("root", &self.root)
            .field("issuer", &self.issuer)
            .field("alg", &self.alg)
            .field("rescan_interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl FileKeyRepositoryBuilder {
    /// How often the directory may be re-read; `Duration::ZERO` re-reads it on every signature.
    pub fn rescan_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The algorithm to sign with (otherwise the key's own: RS256, ES256/384/512, EdDSA).
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// The passphrase of encrypted key files.
    pub fn passphrase(mut self, passphrase: impl Into<Vec<u8>>) -> Self {
        self.passphrase = Some(Zeroizing::new(passphrase.into()));
        self
    }

    /// Reads the directory and loads the active key: a missing directory, no `.pem` file or an
    /// unusable active file is an error now rather than at the first signature.
    pub fn build(self) -> Result<FileKeyRepository, LoadError> {
        // The issuer becomes a path and a kid prefix: it must be a valid kid itself.
        let issuer = KeyId::parse(&self.issuer)?;
        let dir = self.root.join(issuer.as_str());
        let (stamp, key) = load_active(
            &dir,
            &issuer,
            self.passphrase.as_ref().map(|p| p.as_slice()),
            self.alg,
        )?;
        Ok(FileKeyRepository {
            dir,
            issuer,
            alg: self.alg,
            passphrase: self.passphrase,
            interval: self.interval,
            key: RwLock::new(Arc::new(key)),
            scan: Mutex::new(ScanState {
                next: Instant::now() + self.interval,
                stamp,
            }),
        })
    }
}

impl FileKeyRepository {
    /// Starts a repository for `issuer` under `root` (keys in `<root>/<issuer>/`).
    pub fn builder(root: impl Into<PathBuf>, issuer: impl Into<String>) -> FileKeyRepositoryBuilder {
        FileKeyRepositoryBuilder {
            root: root.into(),
            issuer: issuer.into(),
            alg: None,
            passphrase: None,
            interval: DEFAULT_RESCAN_INTERVAL,
        }
    }

    /// The issuer's directory, `<root>/<issuer>`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads the directory now and returns the active key.
    pub fn rescan(&self) -> Result<Arc<SigningKey>, LoadError> {
        let mut scan = self.scan.lock().unwrap_or_else(PoisonError::into_inner);
        self.rescan_locked(&mut scan)
    }

    fn current_key(&self) -> Arc<SigningKey> {
        self.key.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn rescan_locked(&self, scan: &mut ScanState) -> Result<Arc<SigningKey>, LoadError> {
        scan.next = Instant::now() + self.interval;
        let (name, len, modified) = active_file(&self.dir)?;
        let stamp = Stamp { name, len, modified };
        if stamp == scan.stamp {
            return Ok(self.current_key());
        }
        let key = Arc::new(load_file(
            &self.dir,
            &self.issuer,
            &stamp.name,
            self.passphrase.as_ref().map(|p| p.as_slice()),
            self.alg,
        )?);
        tracing::info!(kid = %key.kid(), "private key repository: new active key");
        *self.key.write().unwrap_or_else(PoisonError::into_inner) = key.clone();
        scan.stamp = stamp;
        Ok(key)
    }
}

impl SigningKeySource for FileKeyRepository {
    fn current(&self) -> Result<Arc<SigningKey>, SignError> {
        // Whoever finds the interval over re-reads the directory; concurrent signers do not
        // wait for it and sign with the key they have.
        let scan = match self.scan.try_lock() {
            Ok(scan) => Some(scan),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut scan) = scan
            && Instant::now() >= scan.next
            && let Err(error) = self.rescan_locked(&mut scan)
        {
            tracing::warn!(dir = %self.dir.display(), %error, "private key repository: keeping the current key");
        }
        Ok(self.current_key())
    }
}

/// The name, size and modification time of the `.pem` file whose name sorts last.
fn active_file(dir: &Path) -> Result<(String, u64, Option<SystemTime>), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut best: Option<String> = None;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let usable = name.ends_with(".pem")
            && !name.starts_with('.')
            && KeyId::parse(&name).is_ok_and(|kid| !kid.as_str().contains('/'));
        if usable && best.as_ref().is_none_or(|b| name > *b) {
            // Follow symlinks (Kubernetes secrets are symlinks into a hidden directory).
            if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
                best = Some(name);
            }
        }
    }
    let name = best.ok_or_else(|| LoadError::NoKey {
        dir: dir.to_owned(),
        reason: "no .pem file".to_owned(),
    })?;
    let meta = std::fs::metadata(dir.join(&name)).map_err(io)?;
    Ok((name, meta.len(), meta.modified().ok()))
}

fn load_active(
    dir: &Path,
    issuer: &KeyId,
    passphrase: Option<&[u8]>,
    alg: Option<Algorithm>,
) -> Result<(Stamp, SigningKey), LoadError> {
    let (name, len, modified) = active_file(dir)?;
    let key = load_file(dir, issuer, &name, passphrase, alg)?;
    Ok((Stamp { name, len, modified }, key))
}

fn load_file(
    dir: &Path,
    issuer: &KeyId,
    name: &str,
    passphrase: Option<&[u8]>,
    alg: Option<Algorithm>,
) -> Result<SigningKey, LoadError> {
    let no_key = |reason: String| LoadError::NoKey {
        dir: dir.to_owned(),
        reason,
    };
    let text = read_key_file(&dir.join(name))?;
    let key = parse_private_key(&text, passphrase).map_err(|e| no_key(format!("{name}: {e}")))?;
    let kid = KeyId::parse(&format!("{issuer}/{name}"))?;
    SigningKey::new(kid, key, alg).map_err(|e| no_key(format!("{name}: {e}")))
}
