//! Kid parsing: any string either fails or yields a kid that cannot change which URL is fetched
//! (checked here against an independent statement of the rule), and ownership never panics.

#![no_main]

use asap_core::{KeyId, KidOwnership, MAX_KID_LEN};
use libfuzzer_sys::fuzz_target;

fn allowed(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
        })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the kid, the rest the issuer claiming it.
    let (kid_text, issuer) = text.split_once('\n').unwrap_or((text, "svc"));
    match KeyId::parse(kid_text) {
        Ok(kid) => {
            assert!(allowed(kid_text), "accepted {kid_text:?}");
            assert_eq!(kid.as_str(), kid_text);
            // Appended to a base URL, the kid stays inside the base path.
            let path = format!("/base/{}", kid.as_str());
            assert!(!path.contains(['?', '#', '%', '\\', ':', '@']), "{path:?}");
            assert!(!path.contains("//") && !path.contains("/./") && !path.contains("/../"));
            assert!(!path.ends_with("/.") && !path.ends_with("/.."), "{path:?}");
            for (legacy, nested) in [(false, false), (true, false), (false, true), (true, true)] {
                let rules = KidOwnership::default()
                    .legacy_kid_equals_issuer(legacy)
                    .nested_key_names(nested);
                let owned = kid.check_owned_by(issuer, rules).is_ok();
                let key_name = kid_text.strip_prefix(&format!("{issuer}/"));
                let expected = !issuer.is_empty()
                    && (key_name.is_some_and(|name| nested || !name.contains('/'))
                        || (legacy && kid_text == issuer));
                assert_eq!(owned, expected, "ownership of {kid_text:?} by {issuer:?}");
            }
        }
        Err(e) => {
            assert!(!allowed(kid_text), "refused {kid_text:?}: {e}");
            let _ = e.to_string();
        }
    }
});
