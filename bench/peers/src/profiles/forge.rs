//! Forge Invocation Tokens: `InvocationVerifier` with its keys from a `JwksKeySource` (the real
//! lookup: the set fetched once over HTTP from a loopback server, then every kid found in the
//! cached set), the same verifier on a `StaticKeySource`, jsonwebtoken with a key from the same
//! JWK, and raw aws-lc-rs RS256 on the same bytes. Then strict parsing of the 10-key set.

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;

use asap_core::{Algorithm, KeyId, PublicKey, StaticKeySource, encode_compact};
use asap_keys::{JwkSet, JwksKeySource};
use aws_lc_rs::signature::ParsedPublicKey;
use forge_remote::InvocationVerifier;
use serde_json::{Value, json};

use super::{RSA_KEYS, profile_n, raw_key, rsa, split};
use crate::{Meter, jti, now, ready};

const APP_ID: &str = "ari:cloud:ecosystem::app/5e3a1c52-7d7c-4d55-9d8b-0c1e6c2b8d11";
const KID: &str = "forge-key-1";
/// Keys in the published set (Forge publishes a few; 10 makes the parse row measurable).
const SET_KEYS: usize = 10;

struct Setup {
    jwks: InvocationVerifier,
    fixed: InvocationVerifier,
    peer: JsonWebToken,
    raw: ParsedPublicKey,
    tokens: Vec<String>,
    split: Vec<(String, Vec<u8>)>,
    set: String,
    /// Keeps the source's HTTP client's runtime alive for as long as the verifier is used.
    _runtime: tokio::runtime::Runtime,
}

/// jsonwebtoken with the key made from the published JWK, its validation set to the same rules
/// (RS256, `iss`, `aud`, `exp`/`nbf`).
struct JsonWebToken {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl JsonWebToken {
    fn new(set: &str) -> JsonWebToken {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(set).expect("jwk set");
        let jwk = set.find(KID).expect("kid");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[forge_remote::FORGE_ISSUER]);
        validation.set_audience(&[APP_ID]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "jti"]);
        validation.validate_nbf = true;
        JsonWebToken {
            key: jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key"),
            validation,
        }
    }

    fn verify(&self, token: &str) {
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation).expect("jsonwebtoken");
        black_box(data);
    }
}

/// The claims of an invocation, in the layout Forge documents (as forge-remote's tests build
/// them), with a fresh `jti`.
fn claims() -> Value {
    let now = i64::try_from(now()).expect("now");
    json!({
        "iss": forge_remote::FORGE_ISSUER,
        "aud": APP_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": jti(),
        "app": {
            "id": APP_ID,
            "installationId": "ari:cloud:ecosystem::installation/8f1d2c9a-1111-4222-8333-444455556666",
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd",
            "appVersion": "2.14.0",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/5e3a1c52/prod"},
            "module": {"type": "xen:macro", "key": "remote-macro"},
            "license": {"isActive": true, "billingPeriod": "MONTHLY", "isEvaluation": false},
            "installation": {
                "id": "ari:cloud:ecosystem::installation/8f1d2c9a-1111-4222-8333-444455556666",
                "contexts": [{"name": "ari:cloud:jira::site/4a7c1f0e", "cloudId": "4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd"}]
            }
        },
        "context": {
            "cloudId": "4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd",
            "siteUrl": "https://acme.atlassian.net",
            "moduleKey": "remote-macro",
            "localId": "local-1",
            "extension": {"type": "macro", "content": {"id": "123"}}
        },
        "principal": "5b10a2844c20165700ede21g"
    })
}

/// The published set: `forge-key-1` (the signing key) and nine more, RSA-2048, each with
/// `alg` and `use` as Forge writes them.
fn key_set() -> String {
    let kids: Vec<KeyId> = (1..=SET_KEYS)
        .map(|i| KeyId::parse(&format!("forge-key-{i}")).expect("kid"))
        .collect();
    let publics: Vec<&PublicKey> = (0..SET_KEYS).map(|i| &rsa(i % RSA_KEYS).public).collect();
    let mut set: Value = serde_json::from_str(&JwkSet::to_json(kids.iter().zip(publics))).expect("json");
    for jwk in set["keys"].as_array_mut().expect("keys") {
        jwk["alg"] = json!("RS256");
    }
    set.to_string()
}

/// Serves `body` as the key set on 127.0.0.1 (plain HTTP, which the source accepts for loopback
/// when told to) and counts nothing: the source fetches it once.
fn serve(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/jwk-set+json\r\n\
                 cache-control: max-age=86400\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    url
}

fn setup() -> Setup {
    let signing = rsa(0);
    let set = key_set();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let source = JwksKeySource::builder(serve(set.clone()))
        .allow_insecure_loopback(true)
        .build()
        .expect("jwks source");
    runtime.block_on(source.refresh()).expect("key set fetched");
    let jwks = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(source))
        .build()
        .expect("verifier");
    let fixed = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(
            StaticKeySource::new().with_key(KeyId::parse(KID).expect("kid"), signing.public.clone()),
        ))
        .build()
        .expect("verifier");
    let private = signing.private();
    let header = json!({"alg": "RS256", "kid": KID, "typ": "JWT"}).to_string();
    let tokens: Vec<String> = (0..64)
        .map(|_| {
            encode_compact(header.as_bytes(), claims().to_string().as_bytes(), |input| {
                private.sign(Algorithm::RS256, input)
            })
            .expect("token")
        })
        .collect();
    Setup {
        jwks,
        fixed,
        peer: JsonWebToken::new(&set),
        raw: raw_key(Algorithm::RS256, &signing.public),
        split: tokens.iter().map(|t| split(t)).collect(),
        tokens,
        set,
        _runtime: runtime,
    }
}

pub(super) fn bench(meter: &Meter) -> Value {
    let s = setup();
    let n = s.tokens.len();
    let v = meter.compare(&mut [
        &mut |i| {
            black_box(ready(s.jwks.verify(&s.tokens[i % n])).expect("ours"));
        },
        &mut |i| {
            black_box(ready(s.fixed.verify(&s.tokens[i % n])).expect("ours, static key"));
        },
        &mut |i| {
            let (input, sig) = &s.split[i % n];
            s.raw
                .verify_sig(black_box(input.as_bytes()), black_box(sig))
                .expect("raw");
        },
        &mut |i| s.peer.verify(&s.tokens[i % n]),
    ]);
    let p = meter.compare(&mut [
        &mut |_| {
            black_box(JwkSet::parse(black_box(s.set.as_bytes())).expect("ours"));
        },
        &mut |_| jsonwebtoken_parse(&s.set),
    ]);
    json!({
        "token_bytes": s.tokens[0].len(),
        "verify_per_s": v[0], "raw_verify_per_s": v[2], "verify_ratio": v[0] / v[2],
        "static_key_verify_per_s": v[1], "static_key_verify_ratio": v[1] / v[2],
        "jwks_vs_static_ratio": v[0] / v[1],
        "jsonwebtoken_verify_per_s": v[3], "our_verify_vs_jsonwebtoken": v[0] / v[3],
        "jwks_parse": {
            "keys": SET_KEYS, "set_bytes": s.set.len(),
            "per_s": p[0], "jsonwebtoken_per_s": p[1], "our_ratio": p[0] / p[1],
        },
    })
}

/// What a jsonwebtoken user does with a fetched set: deserialize it and make a key of each JWK
/// (jsonwebtoken keeps RSA keys as their components and parses them at each verification).
fn jsonwebtoken_parse(set: &str) {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(black_box(set)).expect("jwk set");
    let keys: Vec<jsonwebtoken::DecodingKey> = set
        .keys
        .iter()
        .map(|jwk| jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"))
        .collect();
    black_box(keys);
}

pub(super) fn profile(what: &str, n: usize) -> bool {
    let known = [
        "forge-verify",
        "forge-verify-static",
        "forge-raw-verify",
        "forge-verify-jsonwebtoken",
        "jwks-parse",
        "jwks-parse-jsonwebtoken",
    ];
    if !known.contains(&what) {
        return false;
    }
    let s = setup();
    let (token, (input, sig)) = (&s.tokens[0], &s.split[0]);
    profile_n(n, || match what {
        "forge-verify" => drop(black_box(ready(s.jwks.verify(black_box(token))).expect("ours"))),
        "forge-verify-static" => drop(black_box(ready(s.fixed.verify(black_box(token))).expect("ours"))),
        "forge-raw-verify" => s
            .raw
            .verify_sig(black_box(input.as_bytes()), black_box(sig))
            .expect("raw"),
        "forge-verify-jsonwebtoken" => s.peer.verify(black_box(token)),
        "jwks-parse" => drop(black_box(
            JwkSet::parse(black_box(s.set.as_bytes())).expect("ours"),
        )),
        _ => jsonwebtoken_parse(&s.set),
    });
    true
}
