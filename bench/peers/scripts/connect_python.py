"""Connect HS256 sign/s and verify/s of Python `atlassian-jwt`, for `cargo xtask bench`.

Same shape as the Rust rows: a fresh token (with its qsh) per signature; verification of a pool
of fresh tokens through the package's own `Authenticator` (signature, times and qsh checked).
Prints one JSON object: {"sign_per_s": ..., "verify_per_s": ..., "version": ...}.
"""

import importlib.metadata
import json

import atlassian_jwt

from rates import rate  # noqa: E402
METHOD, URL = "GET", "/rest/api/issue?expand=names&fields=summary%2Cstatus&q=a+b"
CLIENT_KEY, SECRET = "bench-client", "a-shared-secret-of-thirty-two-bytes!"


class App(atlassian_jwt.Authenticator):
    def get_shared_secret(self, client_key):
        return SECRET



def main():
    app = App()
    sign = lambda _: atlassian_jwt.encode_token(METHOD, URL, CLIENT_KEY, SECRET)
    pool = [{"Authorization": "JWT " + sign(0)} for _ in range(64)]
    app.authenticate(METHOD, URL, pool[0])  # refuses loudly if the setup is wrong
    print(json.dumps({
        "version": importlib.metadata.version("atlassian-jwt"),
        "sign_per_s": rate(sign),
        "verify_per_s": rate(lambda i: app.authenticate(METHOD, URL, pool[i % len(pool)])),
    }))


main()
