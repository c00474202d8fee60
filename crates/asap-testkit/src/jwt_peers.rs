//! The Python peers of the per-user and central-issuer profiles: `asymmetric-jwt-auth` 1.3.0
//! (driven in-process with minimal Django settings: an in-memory SQLite database and a local
//! memory cache) and `api-jwt-2` 1.3.2 (module `api_jwt`, on PyJWT).
//!
//! Install them with `pip install 'asymmetric-jwt-auth==1.3.0' 'api-jwt-2==1.3.2'` (Django,
//! PyJWT and cryptography come with them). Each function here runs one short script and returns
//! what the package answered; keys are passed as PEM text.

use crate::python::{self, Python};

/// Python with asymmetric-jwt-auth (and Django), or `None` (a skip; a panic in CI).
pub fn asymmetric_jwt_auth() -> Option<Python> {
    python::require(&["asymmetric_jwt_auth", "django", "jwt", "cryptography"])
}

/// Python with api_jwt (and PyJWT), or `None` (a skip; a panic in CI).
pub fn api_jwt() -> Option<Python> {
    python::require(&["api_jwt", "jwt", "cryptography"])
}

/// Minimal Django settings for asymmetric-jwt-auth: its models on an in-memory SQLite database,
/// its nonce store on the local memory cache.
const DJANGO: &str = r#"
import json, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "asymmetric_jwt_auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    SECRET_KEY="test", USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()
from asymmetric_jwt_auth import keys, tokens
"#;

fn django(script: &str) -> String {
    format!("{DJANGO}\n{script}")
}

/// The package's fingerprint of a public key (`PublicKey.load_pem(pem).fingerprint`).
pub fn fingerprint(py: &Python, public_pem: &str) -> String {
    py.run(
        &django("print(keys.PublicKey.load_pem(sys.stdin.read().encode()).fingerprint)"),
        &[],
        public_pem,
    )
}

/// `Token(username, timestamp).create_auth_header(key)`: the package's `Authorization` value
/// (`JWT <token>`), at `timestamp` or now.
pub fn auth_header(py: &Python, username: &str, private_pem: &str, timestamp: Option<i64>) -> String {
    let ts = timestamp.map_or_else(|| "None".to_owned(), |t| t.to_string());
    py.run(
        &django(&format!(
            "key = keys.PrivateKey.load_pem(sys.stdin.read().encode())\n\
             print(tokens.Token(sys.argv[1], timestamp={ts}).create_auth_header(key))"
        )),
        &[username],
        private_pem,
    )
}

/// A token signed by the package's PyJWT with any header `kid` (to forge a wrong fingerprint).
pub fn token_with_kid(py: &Python, username: &str, private_pem: &str, kid: &str) -> String {
    py.run(
        &django(
            "import jwt, time\n\
             key = keys.PrivateKey.load_pem(sys.stdin.read().encode())\n\
             alg = key.public_key.allowed_algorithms[0]\n\
             data = {'username': sys.argv[1], 'time': int(time.time()), 'nonce': 'n-' + str(time.time_ns())}\n\
             print(jwt.encode(data, key.as_pem, algorithm=alg, headers={'kid': sys.argv[2]}))",
        ),
        &[username, kid],
        private_pem,
    )
}

/// `UntrustedToken(token).verify(public_key)`: the username it verified, or `None`.
pub fn verify(py: &Python, token: &str, public_pem: &str) -> Option<String> {
    let out = py.run(
        &django(
            "key = keys.PublicKey.load_pem(sys.stdin.read().encode())\n\
             t = tokens.UntrustedToken(sys.argv[1]).verify(key)\n\
             print(json.dumps(None if t is None else t.username))",
        ),
        &[token],
        public_pem,
    );
    serde_json::from_str(&out).expect("the script prints JSON")
}

/// The package's `JWTAuthMiddleware` with `username` registered with `public_pem` (its
/// `PublicKey` model): the user it authenticated for `Authorization: header`, or `None`.
pub fn middleware(py: &Python, header: &str, username: &str, public_pem: &str) -> Option<String> {
    let out = py.run(
        &django(
            "from django.core.management import call_command\n\
             call_command('migrate', verbosity=0)\n\
             from django.contrib.auth.models import User, AnonymousUser\n\
             from django.test import RequestFactory\n\
             from asymmetric_jwt_auth.models import PublicKey\n\
             from asymmetric_jwt_auth.middleware import JWTAuthMiddleware\n\
             user = User.objects.create(username=sys.argv[2])\n\
             PublicKey.objects.create(user=user, key=sys.stdin.read())\n\
             request = RequestFactory().get('/', HTTP_AUTHORIZATION=sys.argv[1])\n\
             request.user = AnonymousUser()\n\
             JWTAuthMiddleware(lambda r: None).authorize_request(request)\n\
             print(json.dumps(request.user.username if request.user.is_authenticated else None))",
        ),
        &[header, username],
        public_pem,
    );
    serde_json::from_str(&out).expect("the script prints JSON")
}

/// `APIJwt(private_key=…).encode(**kwargs)` with `allowed` overrides (both JSON objects, as
/// `set_allowed(k, v)` takes them): the token.
pub fn api_jwt_encode(
    py: &Python,
    private_pem: &str,
    allowed: &serde_json::Value,
    kwargs: &serde_json::Value,
) -> String {
    py.run(
        "import json, sys\n\
         import api_jwt\n\
         a = api_jwt.APIJwt(private_key=sys.stdin.read())\n\
         for k, v in json.loads(sys.argv[1]).items():\n\
         \x20   a.set_allowed(k, v)\n\
         print(a.encode(**json.loads(sys.argv[2])))",
        &[&allowed.to_string(), &kwargs.to_string()],
        private_pem,
    )
}

/// `APIJwt(public_keys=pem).decode(token)`: the payload it returns (its `user` dict, `exp` as
/// seconds), or `null` when it refused the token.
pub fn api_jwt_decode(py: &Python, token: &str, public_pem: &str) -> serde_json::Value {
    let out = py.run(
        "import json, sys, calendar\n\
         import api_jwt\n\
         a = api_jwt.APIJwt(public_keys=sys.stdin.read())\n\
         user = a.decode(sys.argv[1])\n\
         if user is not None:\n\
         \x20   user = dict(user, exp=calendar.timegm(user['exp'].utctimetuple()))\n\
         print(json.dumps(user))",
        &[token],
        public_pem,
    );
    serde_json::from_str(&out).expect("the script prints JSON")
}

/// `jwt.decode(token, pem, algorithms=['RS256'])`, as a consumer of api_jwt tokens decodes them
/// with plain PyJWT: the claims, or `{"error": "<PyJWT exception name>"}`.
pub fn pyjwt_decode(py: &Python, token: &str, public_pem: &str) -> serde_json::Value {
    let out = py.run(
        "import json, sys\n\
         import jwt\n\
         try:\n\
         \x20   print(json.dumps(jwt.decode(sys.argv[1], sys.stdin.read(), algorithms=['RS256'])))\n\
         except jwt.PyJWTError as e:\n\
         \x20   print(json.dumps({'error': type(e).__name__}))",
        &[token],
        public_pem,
    );
    serde_json::from_str(&out).expect("the script prints JSON")
}

/// PyJWT's reading of a JWKS document (`PyJWKSet.from_dict`): the token `token` verified with
/// the set's key whose `kid` is the token's; prints the claims, or `null` when refused.
pub fn pyjwt_verify_with_jwks(py: &Python, token: &str, jwks: &serde_json::Value) -> serde_json::Value {
    let out = py.run(
        "import json, sys\n\
         import jwt\n\
         keys = jwt.PyJWKSet.from_dict(json.loads(sys.stdin.read()))\n\
         kid = jwt.get_unverified_header(sys.argv[1])['kid']\n\
         key = next(k for k in keys.keys if k.key_id == kid)\n\
         try:\n\
         \x20   print(json.dumps(jwt.decode(sys.argv[1], key.key, algorithms=[key.algorithm_name])))\n\
         except jwt.PyJWTError:\n\
         \x20   print('null')",
        &[token],
        &jwks.to_string(),
    );
    serde_json::from_str(&out).expect("the script prints JSON")
}
