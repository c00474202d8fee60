//! The repository client configured from the environment, as the ASAP reference
//! implementations read it.

use super::HttpKeyRepository;
use super::builder::HttpKeyRepositoryBuilder;
use super::url::base_url;
use crate::error::{ConfigError, EnvError};

/// Environment variable naming the key repository (`url1 | url2` for mirrors).
pub const ENV_REPOSITORY_URL: &str = "ASAP_PUBLIC_KEY_REPOSITORY_URL";
/// Environment variable naming the fallback repository, tried after the first one fails.
pub const ENV_FALLBACK_REPOSITORY_URL: &str = "ASAP_PUBLIC_KEY_FALLBACK_REPOSITORY_URL";

impl HttpKeyRepository {
    /// A builder from the process environment: [`ENV_REPOSITORY_URL`] (required; `url1 | url2`
    /// lists mirrors in failover order) and [`ENV_FALLBACK_REPOSITORY_URL`] (optional, tried last).
    pub fn builder_from_env() -> Result<HttpKeyRepositoryBuilder, EnvError> {
        HttpKeyRepository::builder_from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`builder_from_env`](HttpKeyRepository::builder_from_env), reading variables
    /// through `vars` (so tests and embedders need not touch the process environment).
    ///
    /// ```
    /// use asap_keys::HttpKeyRepository;
    /// let vars = |name: &str| match name {
    ///     "ASAP_PUBLIC_KEY_REPOSITORY_URL" => Some("https://a.example/ | https://b.example/".to_owned()),
    ///     "ASAP_PUBLIC_KEY_FALLBACK_REPOSITORY_URL" => Some("https://c.example/".to_owned()),
    ///     _ => None,
    /// };
    /// let repo = HttpKeyRepository::builder_from_vars(vars)?.build()?;
    /// assert_eq!(repo.repositories(), ["https://a.example/", "https://b.example/", "https://c.example/"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder_from_vars(
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<HttpKeyRepositoryBuilder, EnvError> {
        let value = |name| vars(name).filter(|v: &String| !v.trim().is_empty());
        let primary = value(ENV_REPOSITORY_URL).ok_or(EnvError::Missing(ENV_REPOSITORY_URL))?;
        let mut urls = mirror_list(ENV_REPOSITORY_URL, &primary)?;
        if let Some(fallback) = value(ENV_FALLBACK_REPOSITORY_URL) {
            urls.extend(mirror_list(ENV_FALLBACK_REPOSITORY_URL, &fallback)?);
        }
        let mut urls = urls.into_iter();
        let mut builder =
            HttpKeyRepository::builder(urls.next().ok_or(EnvError::Missing(ENV_REPOSITORY_URL))?);
        for url in urls {
            builder = builder.fallback(url);
        }
        // Check the URLs now, so the error names the variable.
        for (name, raw) in [
            (ENV_REPOSITORY_URL, Some(primary)),
            (ENV_FALLBACK_REPOSITORY_URL, value(ENV_FALLBACK_REPOSITORY_URL)),
        ] {
            for url in raw.iter().flat_map(|r| r.split('|')) {
                if let Err(e @ ConfigError::InvalidUrl { .. }) = base_url(url, true) {
                    return Err(EnvError::invalid(name, e));
                }
            }
        }
        Ok(builder)
    }
}

/// Splits `url1 | url2` into its URLs; an empty member is an error naming the variable.
fn mirror_list(variable: &'static str, value: &str) -> Result<Vec<String>, EnvError> {
    value
        .split('|')
        .map(|url| {
            let url = url.trim();
            if url.is_empty() {
                Err(EnvError::invalid(variable, "empty URL in the `url1 | url2` list"))
            } else {
                Ok(url.to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_syntax_errors_name_the_variable() {
        let err = HttpKeyRepository::builder_from_vars(|n| {
            (n == ENV_REPOSITORY_URL).then(|| "https://a.example/ | | https://b.example/".to_owned())
        })
        .expect_err("empty member");
        assert_eq!(err.variable(), ENV_REPOSITORY_URL);
        let err = HttpKeyRepository::builder_from_vars(|_| None).expect_err("missing");
        assert!(matches!(err, EnvError::Missing(ENV_REPOSITORY_URL)));
        let err = HttpKeyRepository::builder_from_vars(|n| match n {
            ENV_REPOSITORY_URL => Some("https://a.example/".into()),
            _ => Some("https://b.example/?q".into()),
        })
        .expect_err("bad fallback");
        assert_eq!(err.variable(), ENV_FALLBACK_REPOSITORY_URL);
        assert!(err.to_string().contains(ENV_FALLBACK_REPOSITORY_URL));
    }
}
