//! PEM and OpenSSH key loading: any text fails with an error or yields a key that signs and
//! verifies; public key PEM parsing likewise.
//!
//! Input: the first byte says whether to offer the passphrase `fuzz`; the rest is the text.

#![no_main]

use asap_core::{PrivateKey, PublicKey};
use libfuzzer_sys::fuzz_target;

fn signs_and_verifies(key: &PrivateKey) {
    let alg = key.default_algorithm();
    let public = key.public_key().expect("a loaded key has a public key");
    let sig = key.sign(alg, b"message").expect("a loaded key signs");
    public
        .verify(alg, b"message", &sig)
        .expect("its own signature verifies");
    assert!(public.verify(alg, b"massage", &sig).is_err());
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let passphrase: Option<&[u8]> = (flags & 1 != 0).then_some(b"fuzz");
    match asap_keys::parse_private_key(text, passphrase) {
        Ok(key) => signs_and_verifies(&key),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(key) = PrivateKey::from_pem(text) {
        signs_and_verifies(&key);
    }
    if let Ok(public) = PublicKey::from_pem(text) {
        let again = PublicKey::from_pem(&public.to_pem()).expect("re-encoded key parses");
        assert_eq!(again, public);
    }
});
