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

    /// Checks that this key belongs to `issuer`: the kid must start with `<issuer>/`. With
    /// `allow_legacy_kid_equals_issuer`, a kid equal to the issuer is accepted too (old clients).
    ///
    /// Without this rule, any service whose key the repository serves could sign tokens in the
    /// name of any other service.
    pub fn check_owned_by(&self, issuer: &str, allow_legacy_kid_equals_issuer: bool) -> Result<(), KidError> {
        let kid = self.as_str();
        let owned = kid
            .strip_prefix(issuer)
            .is_some_and(|rest| rest.starts_with('/') || (allow_legacy_kid_equals_issuer && rest.is_empty()));
        if owned && !issuer.is_empty() {
            Ok(())
        } else {
            Err(KidError::NotOwnedByIssuer {
                kid: crate::truncate(kid),
                issuer: crate::truncate(issuer),
            })
        }
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

    #[test]
    fn ownership_needs_issuer_prefix_and_slash() {
        let kid = KeyId::parse("billing/key1").expect("valid");
        assert!(kid.check_owned_by("billing", false).is_ok());
        assert!(kid.check_owned_by("bill", false).is_err());
        assert!(kid.check_owned_by("billing/key1", false).is_err());
        assert!(kid.check_owned_by("", false).is_err());
        let nested = KeyId::parse("team/billing/key1").expect("valid");
        assert!(nested.check_owned_by("team/billing", false).is_ok());
        assert!(nested.check_owned_by("team", false).is_ok());
    }

    #[test]
    fn kid_equal_to_issuer_needs_the_legacy_switch() {
        let kid = KeyId::parse("billing").expect("valid");
        assert!(kid.check_owned_by("billing", false).is_err());
        assert!(kid.check_owned_by("billing", true).is_ok());
        assert!(kid.check_owned_by("billin", true).is_err());
    }
}
