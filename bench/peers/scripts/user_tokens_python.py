"""Per-user tokens: sign/s and verify/s of Python `asymmetric-jwt-auth`, for `cargo xtask bench`.

Reads on stdin the keys the Rust rows use ({"username", "rsa_private_pem", "ed25519_private_pem",
"pool"}). Per algorithm: `Token(username).sign(key)` for a fresh token (a new nonce each), and
`UntrustedToken(token).verify(public_key)` over a pool of fresh tokens, each verified once: the
package's signature, time window and nonce checks, its nonces in Django's local memory cache
(cleared after each pass over the pool, as the Rust rows start each pass with an empty store).
The pool's tokens are the ones Token.sign makes, signed with the key loaded once.
`Token.sign` signs with the key's first algorithm (RS512 for RSA, EdDSA); RS384 and RS256 are
signed by the same PyJWT call with the algorithm named (`sign_via` says which).
Prints one JSON object: {"version", "algorithms": {ALG: {"sign_per_s", "verify_per_s", "sign_via"}}}.
"""

import importlib.metadata
import json
import sys
import time

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "asymmetric_jwt_auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    SECRET_KEY="bench", USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

import jwt  # noqa: E402
from django.core.cache import cache  # noqa: E402

from asymmetric_jwt_auth import keys, tokens  # noqa: E402
from asymmetric_jwt_auth.nonce import get_nonce_backend  # noqa: E402

from rates import rate  # noqa: E402
# Tokens of a pool claim a time this far ahead, to stay in the ±20 s window while they are used.
AHEAD = 15



def token(username, timestamp, alg, key, kid):
    """The token Token.sign makes (its claims, its header), signed by PyJWT with `key`."""
    data = {"username": username, "time": timestamp, "nonce": get_nonce_backend().generate_nonce()}
    return jwt.encode(payload=data, key=key, algorithm=alg, headers={"kid": kid})


def signer(private_key, alg, username):
    """A fresh token: the package's Token.sign, or its very call with another algorithm."""
    if alg == private_key.public_key.allowed_algorithms[0]:
        return "Token.sign", lambda: tokens.Token(username).sign(private_key)
    kid = private_key.public_key.fingerprint
    return "PyJWT as Token.sign calls it", lambda: token(
        username, int(time.time()), alg, private_key.as_pem, kid
    )


def main():
    given = json.load(sys.stdin)
    username, pool_size = given["username"], given["pool"]
    rsa = keys.PrivateKey.load_pem(given["rsa_private_pem"].encode())
    ed = keys.PrivateKey.load_pem(given["ed25519_private_pem"].encode())
    rows = {}
    for alg, private_key in (("RS256", rsa), ("RS384", rsa), ("RS512", rsa), ("EdDSA", ed)):
        public_key = private_key.public_key
        via, sign = signer(private_key, alg, username)
        # The pool is signed with the key loaded once: Token.sign hands PyJWT the key as PEM,
        # which it loads (and, for RSA, checks) again for every token, at tens per second.
        kid, at = public_key.fingerprint, int(time.time()) + AHEAD
        pool = [token(username, at, alg, private_key._key, kid) for _ in range(pool_size)]
        cache.clear()

        def verify(i):
            if i % pool_size == 0:
                cache.clear()
            if tokens.UntrustedToken(pool[i % pool_size]).verify(public_key) is None:
                raise SystemExit(f"{alg}: the package refused its own token")

        rows[alg] = {"verify_per_s": rate(verify), "sign_per_s": rate(lambda _: sign()), "sign_via": via}
    print(json.dumps({"version": importlib.metadata.version("asymmetric-jwt-auth"), "algorithms": rows}))


main()
