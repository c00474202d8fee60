// Connect HS256 sign/s and verify/s of npm `atlassian-jwt`, for `cargo xtask bench`.
// `node connect_node.js SECONDS` with ASAP_NPM_DIR naming a directory where
// `npm install atlassian-jwt` ran. Same shape as the Python script: a fresh token with its qsh
// per signature; verification of a pool of tokens: decodeSymmetric (signature), the times, and
// the qsh recomputed from the request and compared, as an add-on using the package does.
const path = require('path');
const jwt = require(path.join(process.env.ASAP_NPM_DIR, 'node_modules', 'atlassian-jwt'));

const SECONDS = Number(process.argv[2] || 1);
const METHOD = 'GET', URL = '/rest/api/issue?expand=names&fields=summary%2Cstatus&q=a+b';
const CLIENT_KEY = 'bench-client', SECRET = 'a-shared-secret-of-thirty-two-bytes!';

function sign() {
  const now = Math.floor(Date.now() / 1000);
  const qsh = jwt.createQueryStringHash(jwt.fromMethodAndUrl(METHOD, URL), false, '');
  return jwt.encodeSymmetric({ iss: CLIENT_KEY, iat: now, exp: now + 180, qsh }, SECRET);
}

function verify(token) {
  const claims = jwt.decodeSymmetric(token, SECRET, jwt.SymmetricAlgorithm.HS256);
  const now = Math.floor(Date.now() / 1000);
  if (!(claims.exp >= now && claims.iat <= now + 30)) throw new Error('time');
  if (claims.qsh !== jwt.createQueryStringHash(jwt.fromMethodAndUrl(METHOD, URL), false, '')) {
    throw new Error('qsh');
  }
  return claims;
}

// As ROUNDS in bench/peers/src/main.rs: the best of that many rounds, each a ROUNDS-th of SECONDS.
const ROUNDS = 9;

function rate(fn) {
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < SECONDS / ROUNDS) {
      fn(n++);
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    best = Math.max(best, n / elapsed);
  }
  return best;
}

const pool = Array.from({ length: 64 }, sign);
verify(pool[0]);
process.stdout.write(JSON.stringify({
  version: require(path.join(process.env.ASAP_NPM_DIR, 'node_modules', 'atlassian-jwt', 'package.json')).version,
  sign_per_s: rate(sign),
  verify_per_s: rate((i) => verify(pool[i % pool.length])),
}));
