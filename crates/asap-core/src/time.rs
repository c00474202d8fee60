//! The time rule, one for every token profile: a clock-skew leeway (at most [`MAX_LEEWAY`]), a
//! maximum lifetime, and how a missing `nbf` is read.

use std::time::Duration;

use crate::error::{ConfigError, TokenError};

/// The largest clock-skew allowance any verifier accepts. A larger one would stretch every
/// token's life by as much: with a leeway of years, a token that expired in 1970 verifies.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The time claims of a token, typed: seconds since the Unix epoch, JSON integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeClaims {
    /// `iat`.
    pub issued_at: i64,
    /// `nbf`, when sent.
    pub not_before: Option<i64>,
    /// `exp`.
    pub expires_at: i64,
}

/// The one time rule:
///
/// - `iat <= now + leeway`: `nbf` defaults to `iat`, a token is valid neither before its `nbf`
///   nor before its `iat`, so no accepted token outlives `now + leeway + max lifetime`, whatever
///   times it claims (the Atlassian host's Java reader checks only an explicit `nbf`; reading
///   `iat` as a start is what bounds every replay guard's horizon);
/// - `nbf <= now + leeway` when `nbf` is sent;
/// - `now <= exp + leeway`, so a token is still good at exactly `exp`;
/// - `iat <= exp` and `exp - iat <= max lifetime`.
///
/// ```
/// use std::time::Duration;
/// use asap_core::{TimeClaims, TimeRule, TokenError};
///
/// let rule = TimeRule::new(Duration::from_secs(30), Duration::from_secs(180))?;
/// let token = TimeClaims { issued_at: 1000, not_before: None, expires_at: 1180 };
/// assert!(rule.check(&token, 1210).is_ok());
/// assert!(matches!(rule.check(&token, 1211), Err(TokenError::Expired { .. })));
/// assert!(TimeRule::new(Duration::from_secs(301), Duration::from_secs(180)).is_err());
/// # Ok::<(), asap_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRule {
    leeway: i64,
    max_lifetime: i64,
}

impl TimeRule {
    /// A rule with this leeway (at most [`MAX_LEEWAY`]) and maximum lifetime (1 s to
    /// [`MAX_LIFETIME`]: no replay guard keeps an entry longer, see
    /// [`MAX_REPLAY_HORIZON`](crate::MAX_REPLAY_HORIZON)), and `nbf` defaulting to `iat`.
    ///
    /// [`MAX_LIFETIME`]: crate::MAX_LIFETIME
    pub fn new(leeway: Duration, max_lifetime: Duration) -> Result<TimeRule, ConfigError> {
        if leeway > MAX_LEEWAY {
            return Err(ConfigError(format!(
                "leeway {} s is larger than the maximum {} s",
                leeway.as_secs(),
                MAX_LEEWAY.as_secs()
            )));
        }
        if max_lifetime < Duration::from_secs(1) || max_lifetime > crate::signer::MAX_LIFETIME {
            return Err(ConfigError(format!(
                "max_lifetime must be in 1..={} s",
                crate::signer::MAX_LIFETIME.as_secs()
            )));
        }
        // At most 3600, so it fits.
        let max_lifetime = i64::try_from(max_lifetime.as_secs()).unwrap_or(i64::MAX);
        Ok(TimeRule {
            // At most 300, so it fits.
            leeway: i64::try_from(leeway.as_secs()).unwrap_or(0),
            max_lifetime,
        })
    }

    /// The leeway, in seconds.
    pub fn leeway_secs(&self) -> i64 {
        self.leeway
    }

    /// The last second this rule accepts a token with these times (`exp` plus the leeway): how
    /// long a replay guard must know its `jti` ([`TokenUse::expires_at`]).
    ///
    /// [`TokenUse::expires_at`]: crate::TokenUse::expires_at
    pub fn accepted_until(&self, claims: &TimeClaims) -> i64 {
        claims.expires_at.saturating_add(self.leeway)
    }

    /// The first second this rule accepts a token with these times (the later of `iat` and
    /// `nbf`, less the leeway): with [`TimeRule::accepted_until`], the window in which a token
    /// that passed [`TimeRule::check`] once passes it again.
    pub fn accepted_from(&self, claims: &TimeClaims) -> i64 {
        let start = claims
            .not_before
            .map_or(claims.issued_at, |nbf| nbf.max(claims.issued_at));
        start.saturating_sub(self.leeway)
    }

    /// The use of a token to record with a replay guard, once its times pass at `now`, the
    /// clock reading the guard is given: a verifier that awaited something (a key fetch, a
    /// store) since it last checked reads the clock again and calls this, so that a token
    /// that expired meanwhile is refused as [`TokenError::Expired`] rather than counted by the
    /// guard as seen. The use is kept until [`TimeRule::accepted_until`].
    pub fn admit<'a>(
        &self,
        claims: &TimeClaims,
        now: i64,
        issuer: &'a str,
        jti: &'a str,
    ) -> Result<crate::TokenUse<'a>, TokenError> {
        self.check(claims, now)?;
        Ok(crate::TokenUse {
            issuer,
            jti,
            now,
            expires_at: self.accepted_until(claims),
        })
    }

    /// The maximum lifetime, in seconds.
    pub fn max_lifetime_secs(&self) -> i64 {
        self.max_lifetime
    }

    /// Applies the rule at `now` (seconds since the Unix epoch).
    pub fn check(&self, claims: &TimeClaims, now: i64) -> Result<(), TokenError> {
        let latest_start = now.saturating_add(self.leeway);
        if claims.issued_at > latest_start {
            return Err(TokenError::IssuedInFuture {
                iat: claims.issued_at,
                now,
            });
        }
        if let Some(nbf) = claims.not_before
            && nbf > latest_start
        {
            return Err(TokenError::NotYetValid { nbf, now });
        }
        if now > self.accepted_until(claims) {
            return Err(TokenError::Expired {
                exp: claims.expires_at,
                now,
            });
        }
        let lifetime = claims.expires_at.saturating_sub(claims.issued_at);
        if claims.expires_at < claims.issued_at || lifetime > self.max_lifetime {
            return Err(TokenError::BadLifetime {
                lifetime,
                max: self.max_lifetime,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(leeway: u64, max: u64) -> TimeRule {
        TimeRule::new(Duration::from_secs(leeway), Duration::from_secs(max)).expect("valid rule")
    }

    fn timed(iat: i64, exp: i64, nbf: Option<i64>) -> TimeClaims {
        TimeClaims {
            issued_at: iat,
            not_before: nbf,
            expires_at: exp,
        }
    }

    #[test]
    fn a_token_passes_from_accepted_from_to_accepted_until_and_not_outside() {
        let rule = rule(30, 3600);
        for claims in [
            timed(1000, 1600, None),
            timed(1000, 1600, Some(1200)),
            timed(1000, 1600, Some(900)),
        ] {
            let (from, until) = (rule.accepted_from(&claims), rule.accepted_until(&claims));
            assert!(rule.check(&claims, from).is_ok() && rule.check(&claims, until).is_ok());
            assert!(rule.check(&claims, from - 1).is_err(), "{claims:?}");
            assert!(rule.check(&claims, until + 1).is_err(), "{claims:?}");
        }
        assert_eq!(rule.accepted_from(&timed(1000, 1600, Some(1200))), 1170);
    }

    #[test]
    fn leeway_is_capped_at_300_s() {
        assert!(TimeRule::new(MAX_LEEWAY, Duration::from_secs(60)).is_ok());
        let err = TimeRule::new(Duration::from_secs(301), Duration::from_secs(60)).expect_err("too large");
        assert_eq!(err.0, "leeway 301 s is larger than the maximum 300 s");
        // The 1970 token a huge leeway would let through.
        assert!(TimeRule::new(Duration::from_secs(u64::MAX), Duration::from_secs(60)).is_err());
        assert!(TimeRule::new(Duration::ZERO, Duration::ZERO).is_err());
    }

    #[test]
    fn exp_is_inclusive_and_leeway_extends_it() {
        let c = timed(1000, 1060, None);
        assert!(rule(0, 3600).check(&c, 1060).is_ok());
        assert!(matches!(
            rule(0, 3600).check(&c, 1061),
            Err(TokenError::Expired { .. })
        ));
        assert!(rule(30, 3600).check(&c, 1090).is_ok());
        assert!(matches!(
            rule(30, 3600).check(&c, 1091),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn iat_in_the_future_is_refused_beyond_leeway() {
        let c = timed(1030, 1090, None);
        assert!(rule(30, 3600).check(&c, 1000).is_ok());
        assert!(matches!(
            rule(30, 3600).check(&c, 999),
            Err(TokenError::IssuedInFuture { .. })
        ));
        assert!(matches!(
            rule(0, 3600).check(&c, 1029),
            Err(TokenError::IssuedInFuture { .. })
        ));
    }

    #[test]
    fn nbf_is_checked_with_leeway() {
        let c = timed(1000, 1060, Some(1040));
        assert!(matches!(
            rule(30, 3600).check(&c, 1009),
            Err(TokenError::NotYetValid { nbf: 1040, .. })
        ));
        assert!(rule(30, 3600).check(&c, 1010).is_ok());
    }

    /// Every profile's time rule is bounded alike: no maximum lifetime beyond what a replay
    /// guard keeps (a longer one made each use of such a token a 503 with a guard set).
    #[test]
    fn the_maximum_lifetime_is_within_1_to_3600_s() {
        assert!(TimeRule::new(Duration::ZERO, crate::MAX_LIFETIME).is_ok());
        assert!(TimeRule::new(Duration::ZERO, Duration::from_secs(1)).is_ok());
        for max in [
            Duration::ZERO,
            Duration::from_millis(999),
            crate::MAX_LIFETIME + Duration::from_secs(1),
            Duration::MAX,
        ] {
            assert!(TimeRule::new(Duration::ZERO, max).is_err(), "{max:?}");
        }
    }

    #[test]
    fn lifetime_bounds() {
        assert!(rule(0, 3600).check(&timed(1000, 4600, None), 1000).is_ok());
        assert!(matches!(
            rule(0, 3600).check(&timed(1000, 4601, None), 1000),
            Err(TokenError::BadLifetime { lifetime: 3601, .. })
        ));
        assert!(matches!(
            rule(10, 3600).check(&timed(1000, 999, None), 1000),
            Err(TokenError::BadLifetime { .. })
        ));
        assert!(matches!(
            rule(0, 300).check(&timed(1000, 1301, None), 1000),
            Err(TokenError::BadLifetime { .. })
        ));
        // Extreme values neither overflow nor pass.
        assert!(rule(30, 3600).check(&timed(i64::MIN, i64::MAX, None), 0).is_err());
        assert!(
            rule(300, 3600)
                .check(&timed(0, i64::MAX, None), i64::MAX)
                .is_err()
        );
    }
}
