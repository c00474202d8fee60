"""Sign/s and verify/s of the Python reference (atlassian-jwt-auth), for `cargo xtask bench`.

Same shape as the Rust bench: a fresh token per signature, verification of a pool of fresh
tokens with the public key already in hand (a static retriever: no network, no cache misses).
Prints one JSON object: {"RS256": {"sign_per_s": ..., "verify_per_s": ...}, ...}.
"""

import json
import sys
import time

import atlassian_jwt_auth
from atlassian_jwt_auth.key import BasePublicKeyRetriever
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def keys(alg):
    if alg.startswith(("RS", "PS")):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
        private = ec.generate_private_key(curve)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return pem, public


class Static(BasePublicKeyRetriever):
    def __init__(self, pem):
        self.pem = pem

    def retrieve(self, key_identifier, **kwargs):
        return self.pem


# As ROUNDS in crates/asap-core/benches/throughput.rs.
ROUNDS = 9


def rate(fn):
    best = 0.0
    for _ in range(ROUNDS):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS / ROUNDS:
            fn(n)
            n += 1
        best = max(best, n / (time.perf_counter() - start))
    return best


def main():
    out = {}
    for alg in ["RS256", "PS256", "ES256", "ES384", "ES512"]:
        private, public = keys(alg)
        signer = atlassian_jwt_auth.create_signer("bench", "bench/key", private, algorithm=alg)
        verifier = atlassian_jwt_auth.JWTAuthVerifier(Static(public))
        pool = [signer.generate_jwt("svc") for _ in range(64)]
        out[alg] = {
            "sign_per_s": rate(lambda _: signer.generate_jwt("svc")),
            "verify_per_s": rate(lambda i: verifier.verify_jwt(pool[i % len(pool)], "svc")),
        }
    print(json.dumps(out))


main()
