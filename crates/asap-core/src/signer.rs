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
/// The lifetime rule of every signer built on this core: whole seconds, 1 s to
/// [`MAX_LIFETIME`] (a sub-second lifetime would make `exp == iat`, a token good only within the
/// verifier's leeway).
///
/// ```
/// use std::time::Duration;
/// assert!(asap_core::check_lifetime(Duration::from_secs(60)).is_ok());
/// assert!(asap_core::check_lifetime(Duration::from_millis(500)).is_err());
/// assert!(asap_core::check_lifetime(Duration::from_secs(3601)).is_err());
/// ```
pub fn check_lifetime(lifetime: Duration) -> Result<(), SignError> {
    if lifetime.is_zero() || lifetime > MAX_LIFETIME || lifetime.subsec_nanos() != 0 {
        return Err(SignError::Config(format!(
            "lifetime must be whole seconds in 1..={}, not {lifetime:?}",
            MAX_LIFETIME.as_secs()
        )));
    }
    Ok(())
}

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
    /// Its `iat`: before that (a clock stepped back) it would be a token from the future.
    issued_at: i64,
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
    /// Keyed by what the application asks for, never by what a caller sends, and at most
    /// `MAX_REUSE_ENTRIES`: a fast seeded hash (foldhash) instead of SipHash, which was a third
    /// of a reused token's cost.
    reuse: Option<ReuseMap>,
    clock: Arc<dyn Clock>,
    claims_policy: Option<Arc<ClaimsPolicy>>,
    kid_ownership: KidOwnership,
    /// The start of the claims of every token with the default subject.
    default_prefix: ClaimsPrefix,
}

/// The cache of reusable tokens.
type ReuseMap = papaya::HashMap<ReuseKey, Reusable, foldhash::fast::RandomState>;

/// An empty cache of reusable tokens.
fn reuse_map() -> ReuseMap {
    ReuseMap::with_hasher(foldhash::fast::RandomState::default())
}

/// The claims JSON up to `aud` (`{"iss":…,"sub":…,"aud":`), which is the same in every token
/// with the signer's default subject: written and base64url-encoded once, when the signer is
/// built. Base64url maps every 3 bytes to 4 characters on their own, so the encoding of the
/// first 3·k bytes is a prefix of the encoding of the whole claims set.
struct ClaimsPrefix {
    /// The JSON bytes past the encoded part (0 to 2 of them).
    rest: Vec<u8>,
    /// The base64url of the JSON's first 3·k bytes.
    encoded: String,
}

impl ClaimsPrefix {
    fn new(issuer: &str, subject: &str) -> ClaimsPrefix {
        let mut json = Vec::new();
        OutgoingClaims::write_prefix(&mut json, issuer, subject)
            .unwrap_or_else(|_| unreachable!("a Vec takes every write"));
        let aligned = json.len() / 3 * 3;
        let mut encoded = String::new();
        crate::jws::b64url::encode_into(&json[..aligned], &mut encoded);
        ClaimsPrefix {
            rest: json[aligned..].to_vec(),
            encoded,
        }
    }
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
        check_lifetime(self.lifetime)?;
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
                keys,
                lifetime,
                extra: self.extra,
                reuse: self.reuse.then(reuse_map),
                clock: self.clock,
                claims_policy: self.claims_policy,
                kid_ownership: self.kid_ownership,
                default_prefix: ClaimsPrefix::new(
                    &self.issuer,
                    self.subject.as_deref().unwrap_or(&self.issuer),
                ),
                issuer: self.issuer,
                subject: self.subject,
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

/// 128 random bits, hex-encoded. Drawn from aws-lc's RAND_bytes for every token rather than
/// from random bytes buffered here: a buffer copied into a `fork`ed child would hand both
/// processes the same `jti`s.
fn new_jti() -> Result<[u8; 32], SignError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SignError::Crypto)?;
    /// Each byte's two hex digits.
    const HEX: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut table = [[0u8; 2]; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = [DIGITS[b >> 4], DIGITS[b & 0x0f]];
            b += 1;
        }
        table
    };
    let mut jti = [0u8; 32];
    for (b, pair) in bytes.iter().zip(jti.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX[usize::from(*b)]);
    }
    Ok(jti)
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` callback
fn claims_error(e: std::io::Error) -> SignError {
    SignError::Claim {
        name: String::new(),
        reason: e.to_string(),
    }
}

/// What one fresh token holds beyond the signer's own settings: a [`TokenRequest`], borrowed,
/// or one audience and nothing else (so that [`Signer::sign`] builds no request).
#[derive(Clone, Copy)]
struct RequestRef<'a> {
    audiences: &'a [Audience],
    subject: Option<&'a str>,
    extra: &'a Map<String, Value>,
    qsh: Option<&'a Qsh>,
}

impl<'a> From<&'a TokenRequest> for RequestRef<'a> {
    fn from(request: &'a TokenRequest) -> RequestRef<'a> {
        RequestRef {
            audiences: &request.audiences,
            subject: request.subject.as_deref(),
            extra: &request.extra,
            qsh: request.qsh.as_ref(),
        }
    }
}

/// The claims of one fresh token, in the order they are written.
struct OutgoingClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a [Audience],
    jti: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    qsh: Option<&'a str>,
    /// The signer's extra claims that the request does not set itself.
    defaults: &'a Map<String, Value>,
    /// The request's extra claims (they win over the defaults of the same name).
    extra: &'a Map<String, Value>,
}

impl OutgoingClaims<'_> {
    /// The claims as compact JSON, the bytes `serde_json` would write for them (tested against
    /// it): `aud` a string for one audience and an array for more, `qsh` only when bound, then
    /// the defaults and the extra claims in their maps' order.
    fn write(&self, out: &mut impl std::io::Write) -> Result<(), SignError> {
        self.write_io(out).map_err(claims_error)
    }

    /// The claims past [`ClaimsPrefix`] (when `iss` and `sub` are the signer's defaults).
    fn write_rest(&self, out: &mut impl std::io::Write) -> Result<(), SignError> {
        self.write_from_aud(out).map_err(claims_error)
    }

    fn write_io(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        OutgoingClaims::write_prefix(out, self.iss, self.sub)?;
        self.write_from_aud(out)
    }

    /// `{"iss":…,"sub":…,"aud":`: what [`ClaimsPrefix`] holds.
    fn write_prefix(out: &mut impl std::io::Write, iss: &str, sub: &str) -> std::io::Result<()> {
        use crate::json::write::string_contents;
        // Each literal carries the quotes around the strings next to it: fewer, longer writes.
        out.write_all(b"{\"iss\":\"")?;
        string_contents(out, iss)?;
        out.write_all(b"\",\"sub\":\"")?;
        string_contents(out, sub)?;
        out.write_all(b"\",\"aud\":")
    }

    /// The claims from `aud`'s value to the closing brace.
    fn write_from_aud(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        use crate::json::write::{self, string_contents};
        match self.aud {
            [one] => write::string(out, one.as_str())?,
            many => {
                for (i, audience) in many.iter().enumerate() {
                    out.write_all(if i == 0 { b"[" } else { b"," })?;
                    write::string(out, audience.as_str())?;
                }
                out.write_all(b"]")?;
            }
        }
        out.write_all(b",\"jti\":\"")?;
        string_contents(out, self.jti)?;
        // The times and their names through one small buffer: one write instead of six.
        let mut times = crate::jws::StackBuf::<96>::new();
        times.push(b"\",\"iat\":");
        write::int(&mut times, self.iat)?;
        times.push(b",\"nbf\":");
        write::int(&mut times, self.nbf)?;
        times.push(b",\"exp\":");
        write::int(&mut times, self.exp)?;
        out.write_all(times.as_bytes())?;
        if let Some(qsh) = self.qsh {
            out.write_all(b",\"qsh\":")?;
            write::string(out, qsh)?;
        }
        for (name, value) in self.defaults.iter().chain(self.extra) {
            out.write_all(b",")?;
            write::string(out, name)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, value)?;
        }
        out.write_all(b"}")
    }
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
                reuse: reuse.then(reuse_map),
                clock: i.clock.clone(),
                claims_policy: i.claims_policy.clone(),
                kid_ownership: i.kid_ownership,
                default_prefix: ClaimsPrefix {
                    rest: i.default_prefix.rest.clone(),
                    encoded: i.default_prefix.encoded.clone(),
                },
            }),
        }
    }

    /// A token for one audience with the signer's defaults.
    pub fn sign(&self, audience: &Audience) -> Result<Token, SignError> {
        // A shared empty map: a local one would be dropped on every call, reused tokens too.
        static NO_EXTRA: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        self.sign_with(
            || ReuseKey::Audience(audience.clone()),
            RequestRef {
                audiences: std::slice::from_ref(audience),
                subject: None,
                extra: &NO_EXTRA,
                qsh: None,
            },
        )
    }

    /// A token for `request`. A request-bound one ([`TokenRequest::bind`]) is always fresh.
    pub fn sign_request(&self, request: &TokenRequest) -> Result<Token, SignError> {
        if request.qsh.is_some() {
            // Not cached rather than cached by binding: a bound token is for one request, so
            // each gets its own `jti` (a verifier with replay protection then admits each
            // request once), and one entry per URL would crowd the reusable tokens out.
            let inner = &*self.inner;
            return self.sign_fresh(request.into(), &*inner.keys.current()?, inner.clock.now());
        }
        self.sign_with(|| request.reuse_key(), request.into())
    }

    /// Returns a reusable token when one is cached, otherwise signs `request`.
    fn sign_with(
        &self,
        reuse_key: impl FnOnce() -> ReuseKey,
        request: RequestRef<'_>,
    ) -> Result<Token, SignError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let key = inner.keys.current()?;
        let Some(cache) = &inner.reuse else {
            return self.sign_fresh(request, &key, now);
        };
        let reuse_key = reuse_key();
        let guard = cache.pin();
        if let Some(hit) = guard.get(&reuse_key)
            && (hit.issued_at..hit.reuse_until).contains(&now)
            && Arc::ptr_eq(&hit.key, &key)
        {
            return Ok(hit.token.clone());
        }
        let token = self.sign_fresh(request, &key, now)?;
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
        let reuse_until = now.saturating_add(inner.lifetime * 95 / 100);
        guard.insert(
            reuse_key,
            Reusable {
                token: token.clone(),
                key,
                issued_at: now,
                reuse_until,
            },
        );
        Ok(token)
    }

    fn sign_fresh(&self, request: RequestRef<'_>, key: &SigningKey, now: i64) -> Result<Token, SignError> {
        use crate::jws::{StackBuf, b64url};
        let inner = &*self.inner;
        if request.audiences.is_empty() {
            return Err(SignError::Config("a token needs at least one audience".into()));
        }
        // Checked per token too: a key source may rotate to a kid the issuer does not own.
        key.kid.check_owned_by(&inner.issuer, inner.kid_ownership)?;
        check_extra_claims(request.extra)?;
        if let Some(policy) = &inner.claims_policy {
            let mut effective = inner.extra.clone();
            effective.extend(request.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            policy.check(&effective)?;
        }

        let jti = new_jti()?;
        // Per-request claims win over the signer's defaults of the same name.
        let defaults: Map<String, Value>;
        let defaults = if request.extra.is_empty() {
            &inner.extra
        } else {
            defaults = inner
                .extra
                .iter()
                .filter(|(k, _)| !request.extra.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            &defaults
        };
        // The claims JSON, then the token, each built on the stack (a usual token fits with
        // room to spare, RSA-4096 signatures included): the token's own allocation is the
        // only one.
        let mut claims = StackBuf::<512>::new();
        let outgoing = OutgoingClaims {
            iss: &inner.issuer,
            sub: request
                .subject
                .or(inner.subject.as_deref())
                .unwrap_or(&inner.issuer),
            aud: request.audiences,
            jti: std::str::from_utf8(&jti).map_err(|_| SignError::Crypto)?,
            iat: now,
            nbf: now,
            exp: now.saturating_add(inner.lifetime),
            qsh: request.qsh.map(Qsh::as_str),
            defaults,
            extra: request.extra,
        };
        let mut token = StackBuf::<1024>::new();
        token.push(key.header_b64.as_bytes());
        token.push(b".");
        if request.subject.is_none() {
            let prefix = &inner.default_prefix;
            token.push(prefix.encoded.as_bytes());
            claims.push(&prefix.rest);
            outgoing.write_rest(&mut claims)?;
        } else {
            outgoing.write(&mut claims)?;
        }
        b64url::encode_onto(claims.as_bytes(), &mut token);
        let signature = key.key.signature(key.alg, token.as_bytes())?;
        token.push(b".");
        b64url::encode_onto(signature.as_ref(), &mut token);
        // Only base64url characters and dots: always ASCII.
        let token = std::str::from_utf8(token.as_bytes()).map_err(|_| SignError::Crypto)?;
        Ok(Token(Arc::from(token)))
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::json::tests::generated_strings;

    /// The claims as `serde_json` writes them: the reference the hand-written JSON is held to.
    #[derive(Serialize)]
    struct Reference<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: Value,
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

    fn ours(c: &OutgoingClaims<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        c.write(&mut out).expect("a Vec takes every write");
        out
    }

    fn reference(c: &OutgoingClaims<'_>) -> Vec<u8> {
        let aud = match c.aud {
            [one] => json!(one.as_str()),
            many => json!(many.iter().map(Audience::as_str).collect::<Vec<_>>()),
        };
        serde_json::to_vec(&Reference {
            iss: c.iss,
            sub: c.sub,
            aud,
            jti: c.jti,
            iat: c.iat,
            nbf: c.nbf,
            exp: c.exp,
            qsh: c.qsh,
            defaults: c.defaults,
            extra: c.extra,
        })
        .expect("serializes")
    }

    #[test]
    fn claims_are_written_byte_for_byte_as_serde_json_writes_them() {
        let strings = generated_strings(3_000, 0x0123_4567_89ab_cdef);
        let nonempty: Vec<&str> = strings
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let pick = |i: usize| nonempty[i % nonempty.len()];
        for i in 0..nonempty.len() {
            let audiences: Vec<Audience> = (0..1 + i % 3)
                .map(|k| Audience::new(pick(i + k)).expect("non-empty"))
                .collect();
            let mut defaults = Map::new();
            let mut extra = Map::new();
            for k in 0..i % 4 {
                defaults.insert(pick(i * 7 + k).to_owned(), json!(pick(i + 5 + k)));
                extra.insert(
                    pick(i * 11 + k).to_owned(),
                    json!({ pick(i + 3): [pick(i + 4), i, -1, 1.5, null, true] }),
                );
            }
            let time = i64::try_from(i).expect("small") * 1_000_003 - 5;
            let claims = OutgoingClaims {
                iss: pick(i),
                sub: pick(i + 1),
                aud: &audiences,
                jti: pick(i + 2),
                iat: time,
                nbf: -time,
                exp: time + 60,
                qsh: (i % 2 == 0).then(|| pick(i + 6)),
                defaults: &defaults,
                extra: &extra,
            };
            let written = ours(&claims);
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&reference(&claims))
            );
            let parsed: Value = serde_json::from_slice(&written).expect("valid JSON");
            assert_eq!(parsed["iss"], claims.iss);
            assert_eq!(parsed["jti"], claims.jti);
        }
    }

    #[test]
    fn the_precomputed_prefix_and_the_rest_encode_the_claims_serde_json_writes() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // Issuers of every length modulo 3 (the prefix splits at a multiple of 3 bytes), with
        // characters that are escaped; with the default subject and with a request's own.
        for issuer in ["a", "ab", "abc", "a\"b", "a\\\u{1}", "é\u{2028}", "\u{1f600}x"] {
            let prefix = ClaimsPrefix::new(issuer, issuer);
            let aud = [Audience::new("svc").expect("aud")];
            let no_extra = Map::new();
            let claims = OutgoingClaims {
                iss: issuer,
                sub: issuer,
                aud: &aud,
                jti: "0123",
                iat: 5,
                nbf: 5,
                exp: 65,
                qsh: None,
                defaults: &no_extra,
                extra: &no_extra,
            };
            let mut rest = prefix.rest.clone();
            claims.write_rest(&mut rest).expect("a Vec takes every write");
            let mut encoded = prefix.encoded.clone();
            crate::jws::b64url::encode_into(&rest, &mut encoded);
            assert_eq!(
                URL_SAFE_NO_PAD.decode(&encoded).expect("base64url"),
                reference(&claims),
                "{issuer:?}"
            );
        }
    }

    #[test]
    fn signed_tokens_carry_the_claims_serde_json_writes_with_and_without_a_subject() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for issuer in ["a", "ab", "abc", "abcd"] {
            let key = crate::PrivateKey::generate(crate::KeySpec::Curve(crate::KeyKind::P256)).expect("key");
            let signer = Signer::builder(issuer)
                .key(
                    SigningKey::new(KeyId::parse(&format!("{issuer}/k")).expect("kid"), key, None)
                        .expect("key"),
                )
                .build()
                .expect("signer");
            let aud = Audience::new("svc").expect("aud");
            for request in [
                TokenRequest::new(aud.clone()),
                TokenRequest::new(aud.clone()).subject("u\"1"),
            ] {
                let token = signer.sign_request(&request).expect("token");
                let payload = token.as_str().split('.').nth(1).expect("three segments");
                let json = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
                let parsed: Value = serde_json::from_slice(&json).expect("JSON");
                let no_extra = Map::new();
                let expected = reference(&OutgoingClaims {
                    iss: issuer,
                    sub: request.subject.as_deref().unwrap_or(issuer),
                    aud: std::slice::from_ref(&aud),
                    jti: parsed["jti"].as_str().expect("jti"),
                    iat: parsed["iat"].as_i64().expect("iat"),
                    nbf: parsed["nbf"].as_i64().expect("nbf"),
                    exp: parsed["exp"].as_i64().expect("exp"),
                    qsh: None,
                    defaults: &no_extra,
                    extra: &no_extra,
                });
                assert_eq!(String::from_utf8_lossy(&json), String::from_utf8_lossy(&expected));
            }
        }
    }

    #[test]
    fn hostile_claim_strings_cannot_add_or_change_claims() {
        let hostile = r#"x","iss":"admin","y":"\"#;
        let aud = [Audience::new(hostile).expect("non-empty")];
        let no_extra = Map::new();
        let claims = OutgoingClaims {
            iss: "svc",
            sub: hostile,
            aud: &aud,
            jti: "\u{0}\u{2028}\u{1f600}",
            iat: 1,
            nbf: 1,
            exp: 61,
            qsh: None,
            defaults: &no_extra,
            extra: &no_extra,
        };
        let parsed: Map<String, Value> = serde_json::from_slice(&ours(&claims)).expect("valid JSON");
        assert_eq!(
            Value::Object(parsed),
            json!({"iss":"svc","sub":hostile,"aud":hostile,"jti":"\u{0}\u{2028}\u{1f600}","iat":1,"nbf":1,"exp":61})
        );
    }
}
