//! The one rule for showing a URL that may carry credentials (a database URL, a key repository
//! URL given with a password): in errors, `Debug` output, logs and the CLI.

/// What stands in for a removed part of a URL.
const REDACTED: &str = "<redacted>";

/// A URL as it may be shown (errors, `Debug`, logs): without its credentials and
/// without its query string.
///
/// - Everything between `scheme://` and the **last** `@` is the user information and becomes
///   `<redacted>`: a password may hold an unencoded `@` (`postgres://u:p@ss@host/db`), so the
///   user information ends at the last `@`, not the first.
/// - Everything from the first `?` or `#` on becomes `?<redacted>` (or `#<redacted>`): the query
///   carries secrets of its own (`password=`, `sslpassword=`, `passfile=`, `sslkey=`), and
///   listing every such name is a rule that misses the next one.
/// - When the last `@` comes after the first `?` or `#`, the text cannot be told apart
///   (`…/db?password=p@ss`, or a password holding `?`), and only the scheme is kept.
///
/// Text without a valid `scheme://` (a plain SQLite path, a `sqlite:` URL) follows the same
/// rule from its start, so a URL missing its scheme (`u:pw@host/db`) shows no password either.
///
/// ```
/// use asap_keys::redact_url;
///
/// assert_eq!(redact_url("postgres://app:p@ss@db:5432/keys"), "postgres://<redacted>@db:5432/keys");
/// assert_eq!(
///     redact_url("postgres://app@db/keys?password=hunter2&sslmode=require"),
///     "postgres://<redacted>@db/keys?<redacted>"
/// );
/// assert_eq!(redact_url("sqlite:/var/lib/asap/keys.db"), "sqlite:/var/lib/asap/keys.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.find("://") {
        Some(end) if is_scheme(&url[..end]) => url.split_at(end + 3),
        _ => ("", url),
    };
    let query = rest.find(['?', '#']).unwrap_or(rest.len());
    let mut shown = String::with_capacity(url.len());
    shown.push_str(scheme);
    match rest.rfind('@') {
        Some(at) if at > query => {
            shown.push_str(REDACTED);
            return shown;
        }
        Some(at) => {
            shown.push_str(REDACTED);
            shown.push('@');
            shown.push_str(&rest[at + 1..query]);
        }
        None => shown.push_str(&rest[..query]),
    }
    if let Some(delimiter) = rest[query..].chars().next() {
        shown.push(delimiter);
        shown.push_str(REDACTED);
    }
    shown
}

/// RFC 3986 `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`: what comes before `://` in
/// a URL, and not, say, part of a password.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_up_to_the_last_at() {
        for (url, shown) in [
            ("postgres://u:pw@host/db", "postgres://<redacted>@host/db"),
            ("postgres://u:p@ss@host/db", "postgres://<redacted>@host/db"),
            (
                "postgresql://u:a@b@c@host:5432/db",
                "postgresql://<redacted>@host:5432/db",
            ),
            ("postgres://u@host/db", "postgres://<redacted>@host/db"),
            // A password with `/` or `:` in it, unencoded.
            ("postgres://u:p/s:s@host/db", "postgres://<redacted>@host/db"),
            ("  postgres://u:pw@host/db\n", "postgres://<redacted>@host/db"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn the_query_and_fragment_are_removed_whatever_their_names() {
        for (url, shown) in [
            (
                "postgres://host/db?password=hunter2",
                "postgres://host/db?<redacted>",
            ),
            (
                "postgres://u@host/db?sslmode=require&sslpassword=hunter2",
                "postgres://<redacted>@host/db?<redacted>",
            ),
            (
                "postgres://host/db?passfile=/home/u/.pgpass",
                "postgres://host/db?<redacted>",
            ),
            ("postgres://host/db#hunter2", "postgres://host/db#<redacted>"),
            ("sqlite:keys.db?mode=rwc", "sqlite:keys.db?<redacted>"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn an_at_after_the_query_starts_leaves_only_the_scheme() {
        for url in [
            "postgres://host/db?password=p@ss",
            "postgres://u:pw@host/db?password=p@ss",
            // A password holding `?` and `@`: neither reading may show a part of it.
            "postgres://u:p?ss@host/db",
            "postgres://u:p#ss@host/db",
        ] {
            assert_eq!(redact_url(url), "postgres://<redacted>", "{url}");
        }
    }

    #[test]
    fn text_without_a_scheme_follows_the_same_rule() {
        assert_eq!(redact_url("/var/lib/asap/keys.db"), "/var/lib/asap/keys.db");
        assert_eq!(
            redact_url("sqlite:/var/lib/asap/keys.db"),
            "sqlite:/var/lib/asap/keys.db"
        );
        assert_eq!(redact_url("u:pw@host/db"), "<redacted>@host/db");
        // `://` inside a password is not a scheme.
        assert_eq!(redact_url("u:p://w@host/db"), "<redacted>@host/db");
        assert_eq!(redact_url("mysql://u:pw@host/db"), "mysql://<redacted>@host/db");
        assert_eq!(redact_url(""), "");
    }

    #[test]
    fn no_shape_shows_the_secret() {
        let secret = "hunter2";
        for url in [
            "postgres://u:hunter2@host/db",
            "postgres://u:hunter2@x@host/db",
            "postgres://u:x@hunter2@host/db",
            "postgres://u@host/db?password=hunter2",
            "postgres://u@host/db?sslpassword=hunter2",
            "postgres://u@host/db?options=-c%20x&password=hunter2",
            "postgres://u@host/db?password=x@hunter2",
            "postgres://u:hunter2?x@host/db",
            "postgres://u:x?hunter2@host/db",
            "postgress://u:hunter2@host/db",
            "u:hunter2@host/db",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} → {shown}");
        }
    }
}
