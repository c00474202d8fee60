//! Who may call: issuer and subject allow-lists applied to a verified token. A verifier has one
//! for the whole service; an integration layer may add a narrower one per route.

use std::collections::HashSet;

use crate::claims::Claims;
use crate::error::VerifyError;
use crate::rules;

/// Issuer and subject allow-lists. An empty policy allows every verified caller.
///
/// ```
/// use asap_core::AccessPolicy;
/// let admin_only = AccessPolicy::new().allowed_issuers(["admin-console"]);
/// # let _ = admin_only;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    issuers: Option<HashSet<String>>,
    subjects: Option<HashSet<String>>,
}

impl AccessPolicy {
    /// A policy that allows every verified caller.
    pub fn new() -> AccessPolicy {
        AccessPolicy::default()
    }

    /// Only these issuers.
    #[must_use]
    pub fn allowed_issuers<I, S>(mut self, issuers: I) -> AccessPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.issuers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// Only these effective subjects (`sub`, or `iss` without one).
    #[must_use]
    pub fn allowed_subjects<I, S>(mut self, subjects: I) -> AccessPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subjects = Some(subjects.into_iter().map(Into::into).collect());
        self
    }

    /// Checks only the issuer (possible before the signature is checked).
    pub fn check_issuer(&self, issuer: &str) -> Result<(), VerifyError> {
        rules::check_issuer_allowed(issuer, self.issuers.as_ref())
    }

    /// Checks the issuer and the effective subject of verified claims; a refusal is a 403.
    pub fn check(&self, claims: &Claims) -> Result<(), VerifyError> {
        self.check_issuer(claims.issuer())?;
        rules::check_subject(claims, false, self.subjects.as_ref())
    }
}
