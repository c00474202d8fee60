//! Public key sources without a network: a directory in repository layout, and a chain.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use asap_core::{KeyError, KeyFuture, KeyId, KeySourceError, PublicKey, PublicKeySource};

use crate::directory::{DirectoryError, KeyDirectory};

/// Public keys from a directory in repository layout: the key for kid `billing/k1.pem` is the
/// file `<dir>/billing/k1.pem`, exactly what an HTTP(S) key repository would serve at
/// `<base-url>billing/k1.pem`.
///
/// Files are read by [`KeyDirectory`] with the rules the key server applies too (kid syntax,
/// stay under the directory, regular files only, bounded size, exactly one PEM public key and no
/// private key material). A missing file, a link out of the directory or anything that is not a
/// regular file is [`KeySourceError::NotFound`]; a file that is not an acceptable public key is
/// [`KeySourceError::InvalidKey`]; a directory that cannot be read is
/// [`KeySourceError::Unavailable`]. Files are read on each lookup, so a key published while
/// running is found.
///
/// ```no_run
/// let keys = asap_keys::DirectoryKeySource::new("/etc/asap/public-keys");
/// let verifier = asap_core::Verifier::builder(keys)
///     .audience(asap_core::Audience::new("ledger")?)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryKeySource {
    dir: KeyDirectory,
}

impl DirectoryKeySource {
    /// Serves keys from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DirectoryKeySource {
        DirectoryKeySource::from_directory(KeyDirectory::new(dir))
    }

    /// Serves keys from a configured [`KeyDirectory`].
    pub fn from_directory(dir: KeyDirectory) -> DirectoryKeySource {
        DirectoryKeySource { dir }
    }

    async fn read(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        match self.dir.read(kid).await {
            Ok(key) => Ok(Arc::new(key)),
            Err(DirectoryError::Unavailable(e)) => Err(KeySourceError::Unavailable(Box::new(e))),
            Err(DirectoryError::InvalidKey(source)) => Err(KeySourceError::InvalidKey {
                kid: kid.clone(),
                source,
            }),
            Err(e @ (DirectoryError::TooLarge | DirectoryError::PrivateKeyMaterial)) => {
                Err(KeySourceError::InvalidKey {
                    kid: kid.clone(),
                    source: KeyError::Pem(e.to_string()),
                })
            }
            Err(e) => {
                if let DirectoryError::Unreadable(_) = e {
                    tracing::warn!(%kid, error = %e, "a key file exists but cannot be read");
                }
                Err(KeySourceError::NotFound(kid.clone()))
            }
        }
    }
}

impl PublicKeySource for DirectoryKeySource {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(self.read(kid))
    }
}

/// Several sources asked in order: the first key found wins.
///
/// A source that does not know the kid ([`KeySourceError::NotFound`]) or cannot answer
/// ([`KeySourceError::Unavailable`]) passes to the next; an unacceptable key
/// ([`KeySourceError::InvalidKey`]) stops the chain, since a later source must not override a
/// bad key silently. If no source has the key and one was unavailable, the answer is
/// `Unavailable` (503: the key may exist), otherwise `NotFound`.
///
/// ```
/// use asap_core::{KeyId, KeyKind, KeySpec, PrivateKey, StaticKeySource};
/// use asap_keys::{ChainKeySource, DirectoryKeySource};
/// let pinned = StaticKeySource::new().with_key(
///     KeyId::parse("billing/k1")?,
///     PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?.public_key()?,
/// );
/// let keys = ChainKeySource::new()
///     .then(pinned)
///     .then(DirectoryKeySource::new("/etc/asap/public-keys"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct ChainKeySource {
    sources: Vec<Arc<dyn PublicKeySource>>,
}

impl fmt::Debug for ChainKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.sources).finish()
    }
}

impl ChainKeySource {
    /// An empty chain (it finds nothing).
    pub fn new() -> ChainKeySource {
        ChainKeySource::default()
    }

    /// Appends a source.
    #[must_use]
    pub fn then(self, source: impl PublicKeySource + 'static) -> ChainKeySource {
        self.then_shared(Arc::new(source))
    }

    /// Appends a shared source.
    #[must_use]
    pub fn then_shared(mut self, source: Arc<dyn PublicKeySource>) -> ChainKeySource {
        self.sources.push(source);
        self
    }

    async fn lookup(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        let mut unavailable = None;
        for source in &self.sources {
            match source.public_key(kid).await {
                Ok(key) => return Ok(key),
                Err(KeySourceError::NotFound(_)) => {}
                Err(KeySourceError::Unavailable(e)) => {
                    tracing::warn!(%kid, error = %e, "key source unavailable; trying the next one");
                    unavailable.get_or_insert(e);
                }
                Err(other) => return Err(other),
            }
        }
        Err(match unavailable {
            Some(e) => KeySourceError::Unavailable(e),
            None => KeySourceError::NotFound(kid.clone()),
        })
    }
}

impl PublicKeySource for ChainKeySource {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(self.lookup(kid))
    }
}
