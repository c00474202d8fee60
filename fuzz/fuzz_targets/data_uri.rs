//! Private key data URIs: any string fails or yields a valid kid and key that round-trip.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match asap_keys::parse_data_uri(text) {
        Ok((kid, key)) => {
            let uri = asap_keys::to_data_uri(&kid, &key).expect("a parsed key encodes");
            let (kid2, key2) = asap_keys::parse_data_uri(&uri).expect("an encoded key parses");
            assert_eq!(kid, kid2);
            assert_eq!(
                key.public_key().expect("public"),
                key2.public_key().expect("public")
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
