//! ECDSA signatures: zero, out-of-range, truncated, padded, swapped and DER-encoded values, a
//! signature of another token, and a key of the wrong curve.

use asap_core::Algorithm;
use asap_testkit::forge;
use serde_json::json;

use super::stack::{KID, KID_521, Stack, claims, signed};

/// A DER `ECDSA-Sig-Value` from a fixed-width `r || s`.
fn der_signature(p1363: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        body.extend(trimmed);
        let mut out = vec![0x02];
        push_len(&mut out, body.len());
        out.extend(body);
        out
    }
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 128 {
            out.push(u8::try_from(len).expect("short"));
        } else {
            out.push(0x81);
            out.push(u8::try_from(len).expect("one length byte"));
        }
    }
    let (r, s) = p1363.split_at(p1363.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend(body);
    out
}

#[tokio::test]
async fn ecdsa_zero_and_wrong_length_signatures_are_refused() {
    let s = Stack::start().await;
    // The group orders: r = n and s = n are out of range, like 0.
    let n256 = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let n521 = hex(
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
         fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    );
    for (alg, kid, key, width, order) in [
        (Algorithm::ES256, KID, &s.key, 32usize, n256),
        (Algorithm::ES512, KID_521, &s.key_521, 66, n521),
    ] {
        let header = json!({"alg": alg.as_str(), "kid": kid});
        let c = claims();
        let good = signed(&header, &c, key, alg);
        let good_sig = forge::signature_of(&good);
        assert_eq!(good_sig.len(), 2 * width);
        s.accepted(&format!("{alg} as signed"), &good).await;
        let (r, sv) = good_sig.split_at(width);
        let mut bad: Vec<(&str, Vec<u8>)> = vec![
            ("r = s = 0", vec![0; 2 * width]),
            ("r = s = n", [order.clone(), order.clone()].concat()),
            ("r = 0, s valid", [vec![0; width], sv.to_vec()].concat()),
            ("r valid, s = 0", [r.to_vec(), vec![0; width]].concat()),
            ("all ones", vec![0xff; 2 * width]),
            ("r and s swapped", [sv, r].concat()),
            ("one byte short", good_sig[..2 * width - 1].to_vec()),
            ("one byte long", [good_sig.clone(), vec![0]].concat()),
            (
                "zero-padded r and s",
                [vec![0], r.to_vec(), vec![0], sv.to_vec()].concat(),
            ),
            ("a single byte", vec![0]),
            ("DER instead of P1363", der_signature(&good_sig)),
        ];
        if alg == Algorithm::ES512 {
            // 132 bytes of P-521 as 2 x 65 (a common off-by-one) plus padding.
            bad.push(("65-byte halves", [&r[1..], &sv[1..]].concat()));
        }
        for (case, sig) in bad {
            let token = forge::with_signature(&header, &c, &sig);
            s.refused(&format!("{alg} {case}"), &token, 401, "Token(BadSignature)")
                .await;
        }
        // A valid signature over another message.
        let other = signed(&header, &claims(), key, alg);
        let spliced = format!(
            "{}.{}",
            good.rsplit_once('.').expect("dot").0,
            other.rsplit_once('.').expect("dot").1
        );
        s.refused(
            &format!("{alg} signature of another token"),
            &spliced,
            401,
            "Token(BadSignature)",
        )
        .await;
    }
    // The P-256 key named by the kid cannot verify an ES512 token (or the reverse).
    let token = forge::with_signature(&json!({"alg": "ES512", "kid": KID}), &claims(), &[0; 132]);
    s.refused(
        "ES512 token on a P-256 kid",
        &token,
        401,
        "Token(KeyAlgorithmMismatch { alg: ES512, key: P256 })",
    )
    .await;
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
