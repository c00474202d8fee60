//! JWK sets: any bytes fail with a typed error or yield a set whose keys write back out and
//! parse again to the same keys.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match asap_keys::JwkSet::parse(data) {
        Ok(set) => {
            let keys: Vec<_> = set
                .kids()
                .map(|kid| (kid, &**set.get(kid).expect("a listed kid is held").key()))
                .collect();
            let written = asap_keys::JwkSet::to_json(keys);
            let again = asap_keys::JwkSet::parse(written.as_bytes()).expect("a written set parses");
            assert_eq!(set.len(), again.len());
            for kid in set.kids() {
                let (a, b) = (set.get(kid).expect("held"), again.get(kid).expect("written"));
                assert_eq!(a.key().spki_der(), b.key().spki_der());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
