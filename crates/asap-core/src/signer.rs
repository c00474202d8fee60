//! The signer: makes ASAP tokens.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::claims::{Audience, QSH_CLAIM, Qsh, REGISTERED_CLAIMS};
use crate::claims_policy::ClaimsPolicy;
use crate::clock::{Clock, SystemClock};
use crate::error::SignError;
use crate::keys::PrivateKey;
use crate::kid::{KeyId, KidOwnership};

/// The default token lifetime.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// The longest lifetime a token may have (the ASAP specification's limit).
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Most distinct reuse keys (audiences, subject, extra claims) kept at once.
const MAX_REUSE_ENTRIES: usize = 1024;
/// The largest token kept for reuse: one a default verifier refuses is not worth keeping, and
/// it bounds the cache to about `MAX_REUSE_ENTRIES` × 14 KiB (the token and its key).
const MAX_REUSED_TOKEN_BYTES: usize = crate::jws::DEFAULT_MAX_TOKEN_BYTES;

/// A signed token. Cheap to clone. `Debug` does not show it: it is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>);

impl Token {
    /// The compact JWS.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({} bytes)", self.0.len())
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A private key with its kid and algorithm, ready to sign (the JWS header is encoded once here).
pub struct SigningKey {
    kid: KeyId,
    key: PrivateKey,
    alg: Algorithm,
    header_b64: String,
}

impl SigningKey {
    /// Binds a key to its kid. `alg` defaults to the key's own ([`PrivateKey::default_algorithm`]);
    /// an algorithm that does not fit the key is refused.
    pub fn new(kid: KeyId, key: PrivateKey, alg: Option<Algorithm>) -> Result<SigningKey, SignError> {
        let alg = alg.unwrap_or_else(|| key.default_algorithm());
        if alg.key_kind() != key.kind() {
            return Err(SignError::Key(crate::error::KeyError::AlgorithmMismatch {
                alg,
                key: key.kind(),
            }));
        }
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            kid: &'a str,
            typ: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: alg.as_str(),
            kid: kid.as_str(),
            typ: "JWT",
        })
        .map_err(|_| SignError::Crypto)?;
        Ok(SigningKey {
            header_b64: {
                let mut b64 = String::new();
                crate::jws::b64url::encode_into(&header, &mut b64);
                b64
            },
            kid,
            key,
            alg,
        })
    }

    /// The kid.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Where a signer gets its current key. A fixed [`SigningKey`] is one; `asap-keys` has a file
/// repository that picks up a new key without a restart.
pub trait SigningKeySource: Send + Sync + fmt::Debug {
    /// The key to sign with now. Called once per fresh token, so it must not do slow I/O.
    fn current(&self) -> Result<Arc<SigningKey>, SignError>;
}

#[derive(Debug)]
struct FixedKey(Arc<SigningKey>);

impl SigningKeySource for FixedKey {
    fn current(&self) -> Result<Arc<SigningKey>, SignError> {
        Ok(self.0.clone())
    }
}

/// What to put in one token beyond the signer's defaults.
///
/// ```
/// use asap_core::{Audience, TokenRequest};
/// let request = TokenRequest::new(Audience::new("billing")?)
///     .subject("user-42")
///     .claim("scope", "invoices:read");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    audiences: Vec<Audience>,
    subject: Option<String>,
    extra: Map<String, Value>,
    qsh: Option<Qsh>,
}

impl TokenRequest {
    /// A token for one audience.
    pub fn new(audience: Audience) -> TokenRequest {
        TokenRequest {
            audiences: vec![audience],
            subject: None,
            extra: Map::new(),
            qsh: None,
        }
    }

    /// Binds the token to one request: its `qsh` claim is `qsh`, the hash of the request's
    /// canonical form (compute it with `connect_qsh::qsh(method, url, base_url)`). A bound
    /// token is never reused, whatever the signer's reuse setting: it is made for one request.
    #[must_use]
    pub fn bind(mut self, qsh: Qsh) -> TokenRequest {
        self.qsh = Some(qsh);
        self
    }

    /// The request this token is bound to, if any.
    pub fn binding(&self) -> Option<&Qsh> {
        self.qsh.as_ref()
    }

    /// Adds another audience (the token's `aud` becomes an array).
    #[must_use]
    pub fn audience(mut self, audience: Audience) -> TokenRequest {
        self.audiences.push(audience);
        self
    }

    /// Sets `sub` (the signer's subject, or the issuer, otherwise).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> TokenRequest {
        self.subject = Some(subject.into());
        self
    }

    /// Adds an extra claim.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> TokenRequest {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// Adds the fields of a serializable struct (or map) as extra claims.
    pub fn claims_from<T: Serialize>(mut self, claims: &T) -> Result<TokenRequest, SignError> {
        match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => {
                self.extra.extend(map);
                Ok(self)
            }
            Ok(_) => Err(SignError::Claim {
                name: String::new(),
                reason: "extra claims must serialize to a JSON object".into(),
            }),
            Err(e) => Err(SignError::Claim {
                name: String::new(),
                reason: e.to_string(),
            }),
        }
    }

    /// The audiences.
    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }

    /// The extra claims.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The key under which a reusable token for this request is cached.
    fn reuse_key(&self) -> ReuseKey {
        // Destructured, so that a field added to the request cannot be left out of the key.
        let TokenRequest {
            audiences,
            subject,
            extra,
            // Bound requests never reach the cache (`Signer::sign_request`).
            qsh: _,
        } = self;
        if let ([audience], None, true) = (audiences.as_slice(), subject, extra.is_empty()) {
            return ReuseKey::Audience(audience.clone());
        }
        ReuseKey::Request {
            audiences: audiences.clone(),
            subject: subject.clone(),
            extra: Value::Object(extra.clone()).to_string(),
        }
    }
}

/// What a reusable token is cached under: every field of the request, compared field by field.
/// Never one string joined with separators: there the audiences `["a", "b"]` and `["a\0b"]`, or
/// the subject `alice` with a claim and a subject that spells out that claim, would share a
/// token, and a caller could receive a token minted for another request. What the signer
/// itself puts in every token (issuer, lifetime, default subject and claims) is fixed for the
/// life of its cache, and the signing key is compared on every hit (a rotated key or kid means
/// a fresh token).
#[derive(Clone, PartialEq, Eq, Hash)]
enum ReuseKey {
    /// One audience, no subject, no extra claims: the common case, looked up without building
    /// a request.
    Audience(Audience),
    /// Any other request.
    Request {
        audiences: Vec<Audience>,
        subject: Option<String>,
        /// The extra claims as JSON (a JSON map is not `Hash`). JSON quotes and escapes every
        /// string, so different claims give different text.
        extra: String,
    },
}

#[derive(Clone)]
struct Reusable {
    token: Token,
    key: Arc<SigningKey>,
    reuse_until: i64,
}

/// Signs ASAP tokens. Cheap to clone; share one per process.
///
/// ```
/// use asap_core::{Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey};
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
/// let signer = Signer::builder("billing")
///     .key(SigningKey::new(KeyId::parse("billing/k1")?, key, None)?)
///     .build()?;
/// let token = signer.sign(&Audience::new("ledger")?)?;
/// assert_eq!(token.as_str().split('.').count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    inner: Arc<SignerInner>,
}

struct SignerInner {
    issuer: String,
    keys: Arc<dyn SigningKeySource>,
    lifetime: i64,
    subject: Option<String>,
    extra: Map<String, Value>,
    reuse: Option<papaya::HashMap<ReuseKey, Reusable>>,
    clock: Arc<dyn Clock>,
    claims_policy: Option<Arc<ClaimsPolicy>>,
    kid_ownership: KidOwnership,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("issuer", &self.inner.issuer)
            .field("keys", &self.inner.keys)
            .field("lifetime", &self.inner.lifetime)
            .field("reuse", &self.inner.reuse.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Signer`].
#[derive(Debug)]
#[must_use]
pub struct SignerBuilder {
    issuer: String,
    keys: Option<Arc<dyn SigningKeySource>>,
    lifetime: Duration,
    subject: Option<String>,
    extra: Map<String, Value>,
    reuse: bool,
    clock: Arc<dyn Clock>,
    claims_policy: Option<Arc<ClaimsPolicy>>,
    kid_ownership: KidOwnership,
}

impl SignerBuilder {
    /// Signs with one fixed key.
    pub fn key(mut self, key: SigningKey) -> SignerBuilder {
        self.keys = Some(Arc::new(FixedKey(Arc::new(key))));
        self
    }

    /// Signs with whatever key `source` says is current.
    pub fn key_source(mut self, source: Arc<dyn SigningKeySource>) -> SignerBuilder {
        self.keys = Some(source);
        self
    }

    /// Token lifetime: default 60 s, at most 3600 s, whole seconds.
    pub fn lifetime(mut self, lifetime: Duration) -> SignerBuilder {
        self.lifetime = lifetime;
        self
    }

    /// The default `sub` (otherwise the issuer).
    pub fn subject(mut self, subject: impl Into<String>) -> SignerBuilder {
        self.subject = Some(subject.into());
        self
    }

    /// An extra claim put in every token.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> SignerBuilder {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// Reuse a token for the same audience, subject and extra claims until 95% of its lifetime
    /// has passed, instead of signing a new one per call. Off by default; turn it off where
    /// the verifier enforces one use per `jti`.
    pub fn reuse_tokens(mut self, reuse: bool) -> SignerBuilder {
        self.reuse = reuse;
        self
    }

    /// The clock (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> SignerBuilder {
        self.clock = clock;
        self
    }

    /// Refuse to sign a token whose extra claims (the signer's and the request's together)
    /// fall outside `policy`, with [`SignError::ClaimNotAllowed`].
    pub fn claims_policy(mut self, policy: ClaimsPolicy) -> SignerBuilder {
        self.claims_policy = Some(Arc::new(policy));
        self
    }

    /// Sign with a kid whose key name has more than one segment (`<iss>/<a>/<b>`). Off by
    /// default: verifiers refuse such a kid unless they switch
    /// [`VerifierBuilder::allow_nested_key_names`](crate::VerifierBuilder::allow_nested_key_names)
    /// on too, so the signer refuses it before any token is made.
    pub fn allow_nested_key_names(mut self, allow: bool) -> SignerBuilder {
        self.kid_ownership = self.kid_ownership.nested_key_names(allow);
        self
    }

    /// Checks the configuration and builds the signer.
    pub fn build(self) -> Result<Signer, SignError> {
        if self.issuer.is_empty() {
            return Err(SignError::Config("issuer must not be empty".into()));
        }
        if self.lifetime.is_zero() || self.lifetime > MAX_LIFETIME || self.lifetime.subsec_nanos() != 0 {
            return Err(SignError::Config(format!(
                "lifetime must be whole seconds in 1..=3600, not {:?}",
                self.lifetime
            )));
        }
        check_extra_claims(&self.extra)?;
        let keys = self
            .keys
            .ok_or_else(|| SignError::Config("no signing key".into()))?;
        let current = keys.current()?;
        current.kid.check_owned_by(&self.issuer, self.kid_ownership)?;
        let lifetime =
            i64::try_from(self.lifetime.as_secs()).map_err(|_| SignError::Config("lifetime".into()))?;
        Ok(Signer {
            inner: Arc::new(SignerInner {
                issuer: self.issuer,
                keys,
                lifetime,
                subject: self.subject,
                extra: self.extra,
                reuse: self.reuse.then(papaya::HashMap::new),
                clock: self.clock,
                claims_policy: self.claims_policy,
                kid_ownership: self.kid_ownership,
            }),
        })
    }
}

fn check_extra_claims(extra: &Map<String, Value>) -> Result<(), SignError> {
    match extra.keys().find(|k| REGISTERED_CLAIMS.contains(&k.as_str())) {
        Some(name) => Err(SignError::Claim {
            name: name.clone(),
            reason: "is a registered claim the signer sets itself".into(),
        }),
        // A `qsh` set as a plain claim would escape the rules of a binding (never reused, a
        // valid hash) and could be written twice into one token.
        None if extra.contains_key(QSH_CLAIM) => Err(SignError::Claim {
            name: QSH_CLAIM.into(),
            reason: "binds the token to a request: use TokenRequest::bind".into(),
        }),
        None => Ok(()),
    }
}

/// 128 random bits, hex-encoded.
fn new_jti() -> Result<String, SignError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SignError::Crypto)?;
    // A table, not `format!` per byte: this runs for every fresh token.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut jti = String::with_capacity(32);
    for b in bytes {
        jti.push(char::from(HEX[usize::from(b >> 4)]));
        jti.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(jti)
}

impl Signer {
    /// Starts a signer for `issuer`.
    pub fn builder(issuer: impl Into<String>) -> SignerBuilder {
        SignerBuilder {
            issuer: issuer.into(),
            keys: None,
            lifetime: DEFAULT_LIFETIME,
            subject: None,
            extra: Map::new(),
            reuse: false,
            clock: Arc::new(SystemClock),
            claims_policy: None,
            kid_ownership: KidOwnership::default(),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Whether tokens are reused.
    pub fn reuses_tokens(&self) -> bool {
        self.inner.reuse.is_some()
    }

    /// This signer with token reuse switched on or off (same key source and settings; a reuse
    /// cache of its own). Clients that call the same audience often want reuse; a verifier
    /// with replay protection needs a fresh token per call.
    #[must_use]
    pub fn with_reuse(&self, reuse: bool) -> Signer {
        if self.reuses_tokens() == reuse {
            return self.clone();
        }
        let i = &*self.inner;
        Signer {
            inner: Arc::new(SignerInner {
                issuer: i.issuer.clone(),
                keys: i.keys.clone(),
                lifetime: i.lifetime,
                subject: i.subject.clone(),
                extra: i.extra.clone(),
                reuse: reuse.then(papaya::HashMap::new),
                clock: i.clock.clone(),
                claims_policy: i.claims_policy.clone(),
                kid_ownership: i.kid_ownership,
            }),
        }
    }

    /// A token for one audience with the signer's defaults.
    pub fn sign(&self, audience: &Audience) -> Result<Token, SignError> {
        self.sign_with(
            || ReuseKey::Audience(audience.clone()),
            || TokenRequest::new(audience.clone()),
        )
    }

    /// A token for `request`. A request-bound one ([`TokenRequest::bind`]) is always fresh.
    pub fn sign_request(&self, request: &TokenRequest) -> Result<Token, SignError> {
        if request.qsh.is_some() {
            // Not cached rather than cached by binding: a bound token is for one request, so
            // each gets its own `jti` (a verifier with replay protection then admits each
            // request once), and one entry per URL would crowd the reusable tokens out.
            let inner = &*self.inner;
            return self.sign_fresh(request, &*inner.keys.current()?, inner.clock.now());
        }
        self.sign_with(|| request.reuse_key(), || request.clone())
    }

    /// Returns a reusable token when one is cached, otherwise signs `request()` (built only then).
    fn sign_with(
        &self,
        reuse_key: impl FnOnce() -> ReuseKey,
        request: impl FnOnce() -> TokenRequest,
    ) -> Result<Token, SignError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let key = inner.keys.current()?;
        let Some(cache) = &inner.reuse else {
            return self.sign_fresh(&request(), &key, now);
        };
        let reuse_key = reuse_key();
        let guard = cache.pin();
        if let Some(hit) = guard.get(&reuse_key)
            && now < hit.reuse_until
            && Arc::ptr_eq(&hit.key, &key)
        {
            return Ok(hit.token.clone());
        }
        let token = self.sign_fresh(&request(), &key, now)?;
        if token.as_str().len() > MAX_REUSED_TOKEN_BYTES {
            return Ok(token);
        }
        if guard.len() >= MAX_REUSE_ENTRIES {
            guard.retain(|_, v| now < v.reuse_until);
            // Start afresh unless the sweep freed half the room, so that the next sweep is at
            // least MAX_REUSE_ENTRIES / 2 insertions away (amortised O(1) per token); a dropped
            // entry only costs one signature.
            if guard.len() >= MAX_REUSE_ENTRIES / 2 {
                guard.clear();
            }
        }
        // Reuse until 95% of the lifetime has passed, so a reused token always has some life left
        // when it reaches the server.
        let reuse_until = now + inner.lifetime * 95 / 100;
        guard.insert(
            reuse_key,
            Reusable {
                token: token.clone(),
                key,
                reuse_until,
            },
        );
        Ok(token)
    }

    fn sign_fresh(&self, request: &TokenRequest, key: &SigningKey, now: i64) -> Result<Token, SignError> {
        let inner = &*self.inner;
        if request.audiences.is_empty() {
            return Err(SignError::Config("a token needs at least one audience".into()));
        }
        // Checked per token too: a key source may rotate to a kid the issuer does not own.
        key.kid.check_owned_by(&inner.issuer, inner.kid_ownership)?;
        check_extra_claims(&request.extra)?;
        if let Some(policy) = &inner.claims_policy {
            let mut effective = inner.extra.clone();
            effective.extend(request.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            policy.check(&effective)?;
        }

        #[derive(Serialize)]
        #[serde(untagged)]
        enum Aud<'a> {
            One(&'a str),
            Many(Vec<&'a str>),
        }
        #[derive(Serialize)]
        struct Outgoing<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: Aud<'a>,
            jti: &'a str,
            iat: i64,
            nbf: i64,
            exp: i64,
            #[serde(skip_serializing_if = "Option::is_none")]
            qsh: Option<&'a str>,
            #[serde(flatten)]
            defaults: &'a Map<String, Value>,
            #[serde(flatten)]
            extra: &'a Map<String, Value>,
        }
        let aud = match request.audiences.as_slice() {
            [one] => Aud::One(one.as_str()),
            many => Aud::Many(many.iter().map(Audience::as_str).collect()),
        };
        let jti = new_jti()?;
        let subject = request
            .subject
            .as_deref()
            .or(inner.subject.as_deref())
            .unwrap_or(&inner.issuer);
        // Per-request claims win over the signer's defaults of the same name.
        let defaults: Map<String, Value> = if request.extra.is_empty() {
            Map::new()
        } else {
            inner
                .extra
                .iter()
                .filter(|(k, _)| !request.extra.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let payload = serde_json::to_vec(&Outgoing {
            iss: &inner.issuer,
            sub: subject,
            aud,
            jti: &jti,
            iat: now,
            nbf: now,
            exp: now + inner.lifetime,
            qsh: request.qsh.as_ref().map(Qsh::as_str),
            defaults: if request.extra.is_empty() {
                &inner.extra
            } else {
                &defaults
            },
            extra: &request.extra,
        })
        .map_err(|e| SignError::Claim {
            name: String::new(),
            reason: e.to_string(),
        })?;

        let mut token = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&key.header_b64);
        token.push('.');
        crate::jws::b64url::encode_into(&payload, &mut token);
        let signature = key.key.sign(key.alg, token.as_bytes())?;
        token.push('.');
        crate::jws::b64url::encode_into(&signature, &mut token);
        Ok(Token(Arc::from(token)))
    }
}
