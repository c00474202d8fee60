//! Key identifiers: the `kid` header, validated once so that no later code re-checks it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::KidError;

/// The longest `kid` accepted, in bytes.
pub const MAX_KID_LEN: usize = 512;

/// A validated key identifier.
///
/// A key repository URL is built by appending the kid to a base URL, so the kid must never be able
/// to change which host, path or query is fetched. It is therefore limited to ASCII segments of
/// `[A-Za-z0-9_.+-]` joined by single `/`, with no empty, `.` or `..` segment (no traversal, no
/// absolute path, no `?`, `#`, `%`, `:` or `\`), at most [`MAX_KID_LEN`] bytes.
///
/// ```
/// use asap_core::KeyId;
/// let kid = KeyId::parse("billing/2026-11-01.pem")?;
/// assert_eq!(kid.as_str(), "billing/2026-11-01.pem");
/// assert!(KeyId::parse("billing/../admin").is_err());
/// # Ok::<(), asap_core::KidError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Arc<str>);

impl KeyId {
    /// Checks the kid syntax and wraps it.
    pub fn parse(kid: &str) -> Result<KeyId, KidError> {
        check_kid_syntax(kid)?;
        Ok(KeyId(Arc::from(kid)))
    }

    /// The kid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kid of the key `key_name` of `issuer`: `<issuer>/<key name>`, the key name one
    /// segment. Refused when the result breaks the kid syntax or the key name holds a `/`, so
    /// that a kid made here is owned by `issuer` under the default [`KidOwnership`].
    ///
    /// ```
    /// use asap_core::KeyId;
    /// assert_eq!(KeyId::for_issuer("team/billing", "k1.pem")?.as_str(), "team/billing/k1.pem");
    /// assert!(KeyId::for_issuer("team", "billing/k1.pem").is_err());
    /// # Ok::<(), asap_core::KidError>(())
    /// ```
    pub fn for_issuer(issuer: &str, key_name: &str) -> Result<KeyId, KidError> {
        if key_name.contains('/') {
            return Err(KidError::NestedKeyName(crate::truncate(key_name)));
        }
        check_kid_syntax(issuer)?;
        KeyId::parse(&format!("{issuer}/{key_name}"))
    }

    /// The issuer that owns this kid under the default [`KidOwnership`]: the kid without its
    /// last segment (`None` for a kid of one segment, which only the legacy switch lets an
    /// issuer own).
    pub fn owner(&self) -> Option<&str> {
        self.as_str().rsplit_once('/').map(|(owner, _)| owner)
    }

    /// The key name: the last segment of the kid.
    pub fn key_name(&self) -> &str {
        let kid = self.as_str();
        kid.rsplit_once('/').map_or(kid, |(_, name)| name)
    }

    /// Checks that this key belongs to `issuer`: by default the kid is `<issuer>/<key name>`
    /// with a key name of one segment, i.e. [`KeyId::owner`] equals `issuer`.
    ///
    /// Without this rule, any service whose key the repository serves could sign tokens in the
    /// name of any other service. The key name is one segment so that the owner of a kid is
    /// unambiguous: with a prefix test, the key `team/billing/k1` of issuer `team/billing`
    /// would also sign for issuer `team` (a nested issuer impersonating its parent). `rules`
    /// relaxes this for repositories that need it (see [`KidOwnership`]).
    pub fn check_owned_by(&self, issuer: &str, rules: KidOwnership) -> Result<(), KidError> {
        let kid = self.as_str();
        let owned = !issuer.is_empty()
            && match kid.strip_prefix(issuer) {
                Some("") => rules.legacy_kid_equals_issuer,
                Some(rest) => rest
                    .strip_prefix('/')
                    .is_some_and(|name| rules.nested_key_names || !name.contains('/')),
                None => false,
            };
        if owned {
            Ok(())
        } else {
            Err(KidError::NotOwnedByIssuer {
                kid: crate::truncate(kid),
                issuer: crate::truncate(issuer),
            })
        }
    }
}

/// Which kids an issuer owns beyond the default `<issuer>/<one-segment key name>`
/// ([`KeyId::check_owned_by`]). Both switches are off by default; the verifier and the signer
/// each have a builder option for them.
///
/// ```
/// use asap_core::{KeyId, KidOwnership};
/// let kid = KeyId::parse("team/billing/k1")?;
/// assert!(kid.check_owned_by("team/billing", KidOwnership::default()).is_ok());
/// // The parent issuer does not own its children's keys…
/// assert!(kid.check_owned_by("team", KidOwnership::default()).is_err());
/// // …unless deeper key names are switched on.
/// assert!(kid.check_owned_by("team", KidOwnership::default().nested_key_names(true)).is_ok());
/// # Ok::<(), asap_core::KidError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KidOwnership {
    legacy_kid_equals_issuer: bool,
    nested_key_names: bool,
}

impl KidOwnership {
    /// Also accept a kid equal to the issuer (old clients). The repository entry named exactly
    /// like the issuer then signs for it; a kid `team/billing` is then owned both by issuer
    /// `team/billing` (legacy) and by issuer `team` (key name `billing`).
    #[must_use]
    pub fn legacy_kid_equals_issuer(mut self, allow: bool) -> KidOwnership {
        self.legacy_kid_equals_issuer = allow;
        self
    }

    /// Also accept key names of more than one segment: `<issuer>/<a>/<b>`. The owner of a kid
    /// is then ambiguous: issuer `team` owns every key of issuer `team/billing`, so switch it
    /// on only where every issuer is trusted with the keys of the issuers nested under it.
    #[must_use]
    pub fn nested_key_names(mut self, allow: bool) -> KidOwnership {
        self.nested_key_names = allow;
        self
    }
}

/// The kid syntax rule (see [`KeyId`]).
fn check_kid_syntax(kid: &str) -> Result<(), KidError> {
    if kid.is_empty() {
        return Err(KidError::Empty);
    }
    if kid.len() > MAX_KID_LEN {
        return Err(KidError::TooLong { len: kid.len() });
    }
    for segment in kid.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(KidError::BadSegment(crate::truncate(kid)));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')))
        {
            return Err(KidError::BadCharacter(c));
        }
    }
    Ok(())
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", &*self.0)
    }
}

impl FromStr for KeyId {
    type Err = KidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyId::parse(s)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_repository_style_kids() {
        for kid in ["svc/key1", "svc/2026-11-01.pem", "a", "a.b/c_d/e+f-g", "svc/v1.0"] {
            assert!(KeyId::parse(kid).is_ok(), "{kid}");
        }
    }

    #[test]
    fn rejects_traversal_and_empty_segments() {
        for kid in [
            "../etc/passwd",
            "svc/../admin",
            "svc/./k",
            ".",
            "..",
            "/abs",
            "svc/",
            "a//b",
            "",
        ] {
            assert!(KeyId::parse(kid).is_err(), "{kid}");
        }
    }

    #[test]
    fn rejects_url_tricks_and_non_ascii() {
        for kid in [
            "svc/%2e%2e/x",
            "https://evil.example/k",
            "svc/k?x=1",
            "svc/k#frag",
            "svc\\k",
            "svc/k\n",
            "svc/k\u{0}",
            "svc/k y",
            "ѕvc/key", // Cyrillic look-alike
            "svc/k@host",
        ] {
            assert!(KeyId::parse(kid).is_err(), "{kid:?}");
        }
    }

    #[test]
    fn length_limit_is_inclusive() {
        assert!(KeyId::parse(&"a".repeat(MAX_KID_LEN)).is_ok());
        assert_eq!(
            KeyId::parse(&"a".repeat(MAX_KID_LEN + 1)),
            Err(KidError::TooLong { len: MAX_KID_LEN + 1 })
        );
    }

    const STRICT: KidOwnership = KidOwnership {
        legacy_kid_equals_issuer: false,
        nested_key_names: false,
    };

    #[test]
    fn ownership_needs_issuer_prefix_and_slash() {
        let kid = KeyId::parse("billing/key1").expect("valid");
        assert!(kid.check_owned_by("billing", STRICT).is_ok());
        assert!(kid.check_owned_by("bill", STRICT).is_err());
        assert!(kid.check_owned_by("billing/key1", STRICT).is_err());
        assert!(kid.check_owned_by("", STRICT).is_err());
    }

    #[test]
    fn ownership_key_name_is_one_segment_so_a_parent_cannot_use_its_childrens_keys() {
        let nested = KeyId::parse("team/billing/key1").expect("valid");
        assert!(nested.check_owned_by("team/billing", STRICT).is_ok());
        assert_eq!(
            nested.check_owned_by("team", STRICT),
            Err(KidError::NotOwnedByIssuer {
                kid: "team/billing/key1".into(),
                issuer: "team".into()
            })
        );
        assert_eq!(nested.owner(), Some("team/billing"));
        assert_eq!(nested.key_name(), "key1");
        let nested_rules = STRICT.nested_key_names(true);
        assert!(nested.check_owned_by("team", nested_rules).is_ok());
        assert!(nested.check_owned_by("team/billing", nested_rules).is_ok());
        assert!(nested.check_owned_by("tea", nested_rules).is_err());
        // The legacy switch does not open nested key names.
        assert!(
            nested
                .check_owned_by("team", STRICT.legacy_kid_equals_issuer(true))
                .is_err()
        );
        assert_eq!(KidOwnership::default(), STRICT);
    }

    #[test]
    fn kid_equal_to_issuer_needs_the_legacy_switch() {
        let kid = KeyId::parse("billing").expect("valid");
        let legacy = STRICT.legacy_kid_equals_issuer(true);
        assert!(kid.check_owned_by("billing", STRICT).is_err());
        assert!(kid.check_owned_by("billing", legacy).is_ok());
        assert!(kid.check_owned_by("billin", legacy).is_err());
        assert_eq!(kid.owner(), None);
        assert_eq!(kid.key_name(), "billing");
    }

    #[test]
    fn for_issuer_makes_owned_kids_and_refuses_nested_key_names() {
        let kid = KeyId::for_issuer("team/billing", "k1.pem").expect("valid");
        assert_eq!(kid.as_str(), "team/billing/k1.pem");
        assert!(kid.check_owned_by("team/billing", STRICT).is_ok());
        assert_eq!(
            KeyId::for_issuer("team", "billing/k1"),
            Err(KidError::NestedKeyName("billing/k1".into()))
        );
        for (issuer, name) in [("", "k"), ("svc", ""), ("s c", "k"), ("..", "k"), ("svc", "..")] {
            assert!(KeyId::for_issuer(issuer, name).is_err(), "{issuer:?} {name:?}");
        }
    }
}
