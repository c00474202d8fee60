//! The verifier: applies every ASAP rule, in a fixed order, to an incoming token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::claims::{Audience, Claims, check_audience};
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, VerifyError};
use crate::jws::{DEFAULT_MAX_TOKEN_BYTES, Jws, JwsSignature};
use crate::kid::{KeyId, KidOwnership};
use crate::policy::AccessPolicy;
use crate::replay::{ReplayGuard, TokenUse};
use crate::rules;
use crate::source::PublicKeySource;
use crate::time::TimeRule;
use crate::verified_cache::VerifiedCache;

/// The default clock-skew allowance (the Node reference uses 30 s; the Python one 0).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// A token that passed every rule: its claims, kid and algorithm. Cheap to clone.
#[derive(Clone)]
pub struct Verified(Arc<VerifiedInner>);

struct VerifiedInner {
    claims: Claims,
    kid: KeyId,
    alg: Algorithm,
}

impl Verified {
    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }

    /// The kid of the key that verified the token.
    pub fn kid(&self) -> &KeyId {
        &self.0.kid
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.0.alg
    }

    /// Shortcut for `claims().issuer()`.
    pub fn issuer(&self) -> &str {
        self.0.claims.issuer()
    }

    /// Shortcut for `claims().subject()` (the effective subject).
    pub fn subject(&self) -> &str {
        self.0.claims.subject()
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("issuer", &self.issuer())
            .field("subject", &self.subject())
            .field("kid", &self.0.kid)
            .field("alg", &self.0.alg)
            .finish_non_exhaustive()
    }
}

/// Verifies ASAP tokens. Cheap to clone; build one per service.
///
/// The order of the checks is part of the contract: size → header → kid syntax → kid ownership
/// and issuer allow-list on the unverified claims → key lookup → signature → claims and time →
/// replay. Nothing reaches the key source before the cheap checks pass, and no `jti` is recorded
/// unless everything else passed.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use asap_core::*;
/// let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
/// let kid = KeyId::parse("billing/k1")?;
/// let keys = StaticKeySource::new().with_key(kid.clone(), private.public_key()?);
/// let signer = Signer::builder("billing").key(SigningKey::new(kid, private, None)?).build()?;
///
/// let verifier = Verifier::builder(keys).audience(Audience::new("ledger")?).build()?;
/// let verified = verifier.verify(signer.sign(&Audience::new("ledger")?)?.as_str()).await?;
/// assert_eq!(verified.issuer(), "billing");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    audiences: Vec<Audience>,
    policy: AccessPolicy,
    subject_must_match_issuer: bool,
    time: TimeRule,
    max_token_bytes: usize,
    kid_ownership: KidOwnership,
    eddsa: bool,
    keys: Arc<dyn PublicKeySource>,
    replay: Option<Arc<dyn ReplayGuard>>,
    clock: Arc<dyn Clock>,
    cache: Option<VerifiedCache>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("Verifier")
            .field("audiences", &i.audiences)
            .field("policy", &i.policy)
            .field("time", &i.time)
            .field("replay", &i.replay.is_some())
            .field("cache", &i.cache.as_ref().map(VerifiedCache::max_entries))
            .finish_non_exhaustive()
    }
}

/// Builds a [`Verifier`].
#[derive(Debug)]
#[must_use]
pub struct VerifierBuilder {
    audiences: Vec<Audience>,
    policy: AccessPolicy,
    subject_must_match_issuer: bool,
    leeway: Duration,
    max_lifetime: Duration,
    max_token_bytes: usize,
    kid_ownership: KidOwnership,
    eddsa: bool,
    keys: Arc<dyn PublicKeySource>,
    replay: Option<Arc<dyn ReplayGuard>>,
    clock: Arc<dyn Clock>,
    cache_entries: usize,
}

impl VerifierBuilder {
    /// Adds an audience this service answers to (at least one is required).
    pub fn audience(mut self, audience: Audience) -> VerifierBuilder {
        self.audiences.push(audience);
        self
    }

    /// Accept only tokens from these issuers (checked before any key fetch; others get 403).
    pub fn allowed_issuers<I, S>(mut self, issuers: I) -> VerifierBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy = self.policy.allowed_issuers(issuers);
        self
    }

    /// Accept only these effective subjects (`sub`, or `iss` without one); others get 403.
    pub fn allowed_subjects<I, S>(mut self, subjects: I) -> VerifierBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy = self.policy.allowed_subjects(subjects);
        self
    }

    /// Allow `sub` to differ from `iss` (a service acting for a user). Off by default.
    pub fn allow_subject_other_than_issuer(mut self, allow: bool) -> VerifierBuilder {
        self.subject_must_match_issuer = !allow;
        self
    }

    /// Clock-skew allowance for `iat`, `nbf` and `exp` (default 30 s, at most
    /// [`MAX_LEEWAY`](crate::MAX_LEEWAY), 300 s: [`build`](VerifierBuilder::build) refuses more).
    pub fn leeway(mut self, leeway: Duration) -> VerifierBuilder {
        self.leeway = leeway;
        self
    }

    /// The longest `exp - iat` accepted (default and maximum 3600 s).
    pub fn max_lifetime(mut self, max: Duration) -> VerifierBuilder {
        self.max_lifetime = max;
        self
    }

    /// The largest token accepted, in bytes (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> VerifierBuilder {
        self.max_token_bytes = max;
        self
    }

    /// Accept a kid equal to the issuer (old clients). Off by default: the kid must be
    /// `<iss>/<key name>` ([`KidOwnership::legacy_kid_equals_issuer`]).
    pub fn allow_legacy_kid_equals_issuer(mut self, allow: bool) -> VerifierBuilder {
        self.kid_ownership = self.kid_ownership.legacy_kid_equals_issuer(allow);
        self
    }

    /// Accept key names of more than one segment, so that issuer `team` may sign with the key
    /// `team/billing/k1`. Off by default: the key name is one segment, so the owner of a kid
    /// is unambiguous and a parent issuer cannot use its children's keys, nor the other way
    /// round ([`KidOwnership::nested_key_names`]).
    pub fn allow_nested_key_names(mut self, allow: bool) -> VerifierBuilder {
        self.kid_ownership = self.kid_ownership.nested_key_names(allow);
        self
    }

    /// Accept EdDSA (Ed25519) tokens. Off by default, as the references do not produce them.
    pub fn enable_eddsa(mut self, enable: bool) -> VerifierBuilder {
        self.eddsa = enable;
        self
    }

    /// Refuse a second use of the same `(iss, jti)` while the token lives.
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> VerifierBuilder {
        self.replay = Some(guard);
        self
    }

    /// The clock (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> VerifierBuilder {
        self.clock = clock;
        self
    }

    /// Remember up to `max_entries` verified tokens until their `exp`, so a repeated token costs
    /// a lookup instead of a signature check. Off by default (0). Ignored when a replay guard is
    /// set, since then no token may be accepted twice. A cached token stays accepted until its
    /// `exp` even if its key is withdrawn meanwhile (at most the token lifetime, ≤ 1 hour).
    ///
    /// Keyed by the exact token text; bounded against issuers that fill it (each keeps a fair
    /// share of a full cache, insertion is O(log n), tokens over 4 KiB or whose claims parse into
    /// over 8 KiB are not kept); an ECDSA high-S twin of a token is just another entry with the
    /// same claims. The reasoning is in `src/verified_cache.rs`.
    pub fn cache_verified_tokens(mut self, max_entries: usize) -> VerifierBuilder {
        self.cache_entries = max_entries;
        self
    }

    /// Checks the configuration and builds the verifier.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if self.audiences.is_empty() {
            return Err(ConfigError("at least one audience is required".into()));
        }
        let time = TimeRule::new(self.leeway, self.max_lifetime)?;
        Ok(Verifier {
            inner: Arc::new(VerifierInner {
                audiences: self.audiences,
                policy: self.policy,
                subject_must_match_issuer: self.subject_must_match_issuer,
                time,
                max_token_bytes: self.max_token_bytes,
                kid_ownership: self.kid_ownership,
                eddsa: self.eddsa,
                keys: self.keys,
                cache: (self.cache_entries > 0 && self.replay.is_none())
                    .then(|| VerifiedCache::new(self.cache_entries)),
                replay: self.replay,
                clock: self.clock,
            }),
        })
    }
}

impl Verifier {
    /// Starts a verifier that looks keys up in `keys`.
    pub fn builder(keys: impl PublicKeySource + 'static) -> VerifierBuilder {
        Verifier::builder_shared(Arc::new(keys))
    }

    /// Starts a verifier on a shared key source.
    pub fn builder_shared(keys: Arc<dyn PublicKeySource>) -> VerifierBuilder {
        VerifierBuilder {
            audiences: Vec::new(),
            policy: AccessPolicy::new(),
            subject_must_match_issuer: true,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: crate::signer::MAX_LIFETIME,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            kid_ownership: KidOwnership::default(),
            eddsa: false,
            keys,
            replay: None,
            clock: Arc::new(SystemClock),
            cache_entries: 0,
        }
    }

    /// The audiences this verifier accepts.
    pub fn audiences(&self) -> &[Audience] {
        &self.inner.audiences
    }

    /// Whether verified tokens are cached (asked for, and no replay guard).
    pub fn caches_tokens(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// Verifies a compact JWS (without the `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        if let Some(hit) = self.verify_from_cache(token) {
            return Ok(hit);
        }
        // Boxed: the full check's state (≈ 0.9 KB) then lives on the heap for the one slow
        // call instead of inside every caller's future, hit or not.
        let result = Box::pin(self.verify_and_cache(token)).await;
        crate::metrics::verification(&result);
        result
    }

    /// What [`Verifier::verify`] answers for `token` when the verified-token cache holds it
    /// ([`VerifierBuilder::cache_verified_tokens`]): the same [`Verified`], for a lookup and
    /// without waiting. `None` when there is no cache, the token is not in it, or its `exp`
    /// has passed: then `verify` decides, by every rule. For a caller that can answer at once
    /// when no I/O is needed (the tower layer does, without boxing a future).
    ///
    /// A hit is counted as `verify` counts it; a miss is counted by the `verify` that follows.
    ///
    /// ```
    /// # use asap_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
    /// # let kid = KeyId::parse("billing/k1")?;
    /// # let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key()?);
    /// # let signer = Signer::builder("billing").key(SigningKey::new(kid, key, None)?).build()?;
    /// let verifier = Verifier::builder(keys)
    ///     .audience(Audience::new("ledger")?)
    ///     .cache_verified_tokens(10_000)
    ///     .build()?;
    /// let token = signer.sign(&Audience::new("ledger")?)?;
    /// assert!(verifier.verify_from_cache(token.as_str()).is_none()); // not verified yet
    /// let verified = verifier.verify(token.as_str()).await?;
    /// let hit = verifier.verify_from_cache(token.as_str()).expect("verified before");
    /// assert_eq!(hit.claims(), verified.claims());
    /// # Ok(()) }
    /// ```
    pub fn verify_from_cache(&self, token: &str) -> Option<Verified> {
        let i = &*self.inner;
        let hit = i.cache.as_ref()?.get(token, i.clock.now())?;
        crate::metrics::verified_cache_lookup(true);
        crate::metrics::verified(&hit);
        Some(hit)
    }

    /// [`Verifier::verify`] after a cache miss (or without a cache): every rule, then the
    /// verified token into the cache.
    async fn verify_and_cache(&self, token: &str) -> Result<Verified, VerifyError> {
        let i = &*self.inner;
        let Some(cache) = &i.cache else {
            return self.verify_uncached(token).await;
        };
        crate::metrics::verified_cache_lookup(false);
        let verified = self.verify_uncached(token).await?;
        let accepted_from = i.time.accepted_from(&verified.claims().time_claims());
        cache.insert(token, &verified, i.clock.now(), accepted_from);
        Ok(verified)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Verified, VerifyError> {
        let i = &*self.inner;
        let Unverified {
            alg,
            kid,
            claims,
            signature,
        } = self.check_unverified(token)?;

        let key = i.keys.public_key(&kid).await?;
        signature.verify(&*key, alg)?;

        let now = i.clock.now();
        let times = claims.time_claims();
        i.time.check(&times, now)?;
        check_audience(claims.audiences(), &i.audiences)?;
        rules::check_subject(&claims, i.subject_must_match_issuer, None)?;
        i.policy.check(&claims)?;

        if let Some(guard) = &i.replay {
            let use_ = TokenUse {
                issuer: &claims.iss,
                jti: &claims.jti,
                now,
                expires_at: i.time.accepted_until(&times),
            };
            match guard.first_use(use_).await {
                Ok(true) => {}
                Ok(false) => return Err(VerifyError::Replayed),
                Err(e) => return Err(VerifyError::ReplayUnavailable(e)),
            }
        }
        Ok(Verified(Arc::new(VerifiedInner { claims, kid, alg })))
    }

    /// Everything that can be checked without the key: size, framing, header, kid syntax,
    /// claim types, kid ownership and the issuer allow-list.
    fn check_unverified<'t>(&self, token: &'t str) -> Result<Unverified<'t>, VerifyError> {
        let i = &*self.inner;
        let jws = Jws::parse(token, i.max_token_bytes)?;
        let (alg, kid) = rules::check_header(jws.header(), i.eddsa)?;
        let claims = Claims::from_registered(jws.decode_claims()?)?;
        let signature = jws.signature()?;
        kid.check_owned_by(&claims.iss, i.kid_ownership)?;
        i.policy.check_issuer(&claims.iss)?;
        Ok(Unverified {
            alg,
            kid,
            claims,
            signature,
        })
    }
}

/// A token that passed every check that needs no key.
struct Unverified<'t> {
    alg: Algorithm,
    kid: KeyId,
    claims: Claims,
    signature: JwsSignature<'t>,
}
