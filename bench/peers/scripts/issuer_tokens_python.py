"""Central-issuer tokens: Python `api-jwt-2` (module `api_jwt`) and PyJWT, for `cargo xtask bench`.

Reads on stdin the Rust rows' tokens (RS256, `aud` "aud", as api_jwt's `decode()` requires) and
keys ({"tokens", "public_pems" (4, the signing key last), "private_pem"}), and measures:
- `APIJwt(public_keys=[pem]).decode(token)` and with the four keys (it tries them in order, so the
  last one verifies): the package's own consumer side;
- `jwt.decode(token, key, algorithms=["RS256"], audience="aud")` with the keys loaded once, trying
  them in the same order: the least a PyJWT consumer of these tokens does;
- `APIJwt(private_key=pem).encode(...)`: a fresh token with the Rust rows' claims.
Prints one JSON object: {"version", "keys_1": {...}, "keys_4_last_matches": {...},
"api_jwt_encode_per_s"}.
"""

import importlib.metadata
import json
import logging
import sys

import api_jwt
import jwt
from cryptography.hazmat.primitives import serialization

from rates import rate  # noqa: E402
# api_jwt logs every failed key at INFO on the root logger; a service would not print them.
logging.disable(logging.CRITICAL)



def pyjwt_decoder(keys):
    def decode(token):
        for key in keys:
            try:
                return jwt.decode(token, key, algorithms=["RS256"], audience="aud")
            except jwt.InvalidSignatureError:
                continue
        raise SystemExit("PyJWT refused the token with every key")

    return decode


def measure(tokens, pems):
    consumer = api_jwt.APIJwt(public_keys=list(pems))
    loaded = [serialization.load_pem_public_key(pem.encode()) for pem in pems]
    decode = pyjwt_decoder(loaded)

    def api_jwt_decode(i):
        if consumer.decode(tokens[i % len(tokens)]) is None:
            raise SystemExit("api_jwt refused the token")

    return {
        "api_jwt_decode_per_s": rate(api_jwt_decode),
        "pyjwt_decode_per_s": rate(lambda i: decode(tokens[i % len(tokens)])),
    }


def main():
    given = json.load(sys.stdin)
    tokens, pems = given["tokens"], given["public_pems"]
    issuer = api_jwt.APIJwt(private_key=given["private_pem"], extras={"aud": None})

    def encode(_):
        return issuer.encode("ann@example.com", key="user", aud="aud", level=3.0, factor="password", scopes=["user:all"])

    if api_jwt.APIJwt(public_keys=[pems[-1]]).decode(encode(0)) is None:
        raise SystemExit("api_jwt refused its own token")
    print(json.dumps({
        "version": importlib.metadata.version("api-jwt-2"),
        "keys_1": measure(tokens, pems[-1:]),
        "keys_4_last_matches": measure(tokens, pems),
        "api_jwt_encode_per_s": rate(encode),
    }))


main()
