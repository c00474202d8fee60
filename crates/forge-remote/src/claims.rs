//! The claims of a Forge Invocation Token, typed as Forge documents them; every field Forge
//! adds later is kept as JSON (`extra`), never dropped and never refused.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every claim of a verified invocation token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InvocationClaims {
    /// The registered claims: `iss` (`forge/invocation-token`), `aud` (the app id), `jti`,
    /// `iat`, `nbf`, `exp`.
    pub issuer: String,
    /// `aud`: the app id the token is addressed to.
    pub audience: String,
    /// `jti`.
    pub token_id: String,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: i64,
    /// `nbf`, when sent.
    pub not_before: Option<i64>,
    /// `exp`.
    pub expires_at: i64,
    /// `app`: the app, its installation and where to call the product.
    pub app: App,
    /// `context`: where the invocation comes from (site, module, extension), when sent.
    pub context: Option<Context>,
    /// `principal`: the Atlassian account id of the user the invocation is for, when there is
    /// one (absent for app-initiated invocations such as scheduled triggers).
    pub principal: Option<String>,
    /// Every other claim, as JSON.
    pub extra: Map<String, Value>,
}

/// The `app` claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct App {
    /// The app id, `ari:cloud:ecosystem::app/<uuid>`; equal to the token's audience.
    pub id: String,
    /// The installation id (`ari:cloud:ecosystem::installation/<uuid>`): the tenant.
    pub installation_id: String,
    /// The base URL of the product APIs for this installation, e.g.
    /// `https://api.atlassian.com/ex/jira/<cloudId>`.
    pub api_base_url: String,
    /// The app version deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The environment the app runs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The module invoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<Module>,
    /// The licence of the installation (paid apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// The installation and the contexts (sites, workspaces) it covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installation: Option<Installation>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.environment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Environment {
    /// `DEVELOPMENT`, `STAGING` or `PRODUCTION`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The environment id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.module`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Module {
    /// The module type, e.g. `xen:macro`, `core:endpoint`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The module key from the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.license`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct License {
    /// Whether the licence is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Every other member (billing period, entitlement, trial end, …), as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.installation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Installation {
    /// The installation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The contexts the installation covers.
    pub contexts: Vec<InstallationContext>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One of `app.installation.contexts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InstallationContext {
    /// The context's name (an ARI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The site's cloud id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    /// The product API base URL for this context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `context` claim: as present (Forge sends different members for different modules).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Context {
    /// The site's cloud id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    /// The site URL, e.g. `https://acme.atlassian.net`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_url: Option<String>,
    /// The module key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_key: Option<String>,
    /// The local id of the module instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// The product's extension data (issue, space, …), as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<Value>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl InvocationClaims {
    /// `iat`, `nbf` and `exp`, for the time rule.
    pub(crate) fn time_claims(&self) -> asap_core::TimeClaims {
        asap_core::TimeClaims {
            issued_at: self.issued_at,
            not_before: self.not_before,
            expires_at: self.expires_at,
        }
    }

    /// The installation id: the tenant this invocation is for.
    pub fn installation_id(&self) -> &str {
        &self.app.installation_id
    }

    /// The site's cloud id, from `context` when sent.
    pub fn cloud_id(&self) -> Option<&str> {
        self.context.as_ref().and_then(|c| c.cloud_id.as_deref())
    }

    /// The site's URL, from `context` when sent: what a Connect-on-Forge app compares with a
    /// Connect tenant's base URL (`connect_qsh::Tenant::is_site`) before linking the two.
    pub fn site_url(&self) -> Option<&str> {
        self.context.as_ref().and_then(|c| c.site_url.as_deref())
    }
}

/// Types a JSON object's members by moving them out of its map, so that typing a verified token's
/// `app` and `context` costs no copy of their strings. One rule for both ways in: the verifier
/// calls [`App::from_json`] and [`Context::from_json`], and each type's `Deserialize` goes
/// through the same function. `null` counts as absent for every optional member; what is not
/// typed stays in `extra`.
struct Members {
    /// Where the object sits in the claims (`app.environment`), for messages.
    path: &'static str,
    map: Map<String, Value>,
}

/// Why a claim's members could not be typed: the member's path and what is wrong with it.
pub(crate) type MemberError = String;

impl Members {
    fn of(path: &'static str, value: Value) -> Result<Members, MemberError> {
        match value {
            Value::Object(map) => Ok(Members { path, map }),
            other => Err(format!("{path} is {}, not an object", kind(&other))),
        }
    }

    /// The member `name`, absent when missing or `null`.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, MemberError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(name, &other, "a string")),
        }
    }

    fn required_string(&mut self, name: &str) -> Result<String, MemberError> {
        self.string(name)?
            .ok_or_else(|| format!("{}.{name} is missing", self.path))
    }

    fn bool(&mut self, name: &str) -> Result<Option<bool>, MemberError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(name, &other, "true or false")),
        }
    }

    fn object<T>(
        &mut self,
        name: &str,
        path: &'static str,
        typed: fn(Members) -> Result<T, MemberError>,
    ) -> Result<Option<T>, MemberError> {
        self.take(name).map(|v| typed(Members::of(path, v)?)).transpose()
    }

    fn objects<T>(
        &mut self,
        name: &str,
        path: &'static str,
        typed: fn(Members) -> Result<T, MemberError>,
    ) -> Result<Vec<T>, MemberError> {
        match self.take(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items.into_iter().map(|v| typed(Members::of(path, v)?)).collect(),
            Some(other) => Err(self.wrong(name, &other, "an array")),
        }
    }

    fn wrong(&self, name: &str, value: &Value, expected: &str) -> MemberError {
        format!("{}.{name} is {}, not {expected}", self.path, kind(value))
    }

    /// What is left: every member not typed.
    fn rest(self) -> Map<String, Value> {
        self.map
    }
}

/// A JSON value's kind, for messages (never its content: claims can be long).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl App {
    /// Types the `app` claim, moving its members out of `value`.
    pub(crate) fn from_json(value: Value) -> Result<App, MemberError> {
        Members::of("app", value).and_then(App::from_members)
    }

    fn from_members(mut m: Members) -> Result<App, MemberError> {
        Ok(App {
            id: m.required_string("id")?,
            installation_id: m.required_string("installationId")?,
            api_base_url: m.required_string("apiBaseUrl")?,
            app_version: m.string("appVersion")?,
            environment: m.object("environment", "app.environment", Environment::from_members)?,
            module: m.object("module", "app.module", Module::from_members)?,
            license: m.object("license", "app.license", License::from_members)?,
            installation: m.object("installation", "app.installation", Installation::from_members)?,
            extra: m.rest(),
        })
    }
}

impl Environment {
    fn from_members(mut m: Members) -> Result<Environment, MemberError> {
        Ok(Environment {
            kind: m.string("type")?,
            id: m.string("id")?,
            extra: m.rest(),
        })
    }
}

impl Module {
    fn from_members(mut m: Members) -> Result<Module, MemberError> {
        Ok(Module {
            kind: m.string("type")?,
            key: m.string("key")?,
            extra: m.rest(),
        })
    }
}

impl License {
    fn from_members(mut m: Members) -> Result<License, MemberError> {
        Ok(License {
            is_active: m.bool("isActive")?,
            extra: m.rest(),
        })
    }
}

impl Installation {
    fn from_members(mut m: Members) -> Result<Installation, MemberError> {
        Ok(Installation {
            id: m.string("id")?,
            contexts: m.objects(
                "contexts",
                "app.installation.contexts[]",
                InstallationContext::from_members,
            )?,
            extra: m.rest(),
        })
    }
}

impl InstallationContext {
    fn from_members(mut m: Members) -> Result<InstallationContext, MemberError> {
        Ok(InstallationContext {
            name: m.string("name")?,
            cloud_id: m.string("cloudId")?,
            api_base_url: m.string("apiBaseUrl")?,
            extra: m.rest(),
        })
    }
}

impl Context {
    /// Types the `context` claim, moving its members out of `value`.
    pub(crate) fn from_json(value: Value) -> Result<Context, MemberError> {
        Members::of("context", value).and_then(Context::from_members)
    }

    fn from_members(mut m: Members) -> Result<Context, MemberError> {
        Ok(Context {
            cloud_id: m.string("cloudId")?,
            site_url: m.string("siteUrl")?,
            module_key: m.string("moduleKey")?,
            local_id: m.string("localId")?,
            extension: m.take("extension"),
            extra: m.rest(),
        })
    }
}

/// `Deserialize` for each claim type through its `from_members`: the same typing as the
/// verifier's, so the two cannot drift apart.
macro_rules! deserialize_through_members {
    ($($ty:ident: $path:literal;)*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                let value = Value::deserialize(deserializer)?;
                Members::of($path, value).and_then($ty::from_members).map_err(de::Error::custom)
            }
        }
    )*};
}

deserialize_through_members! {
    App: "app";
    Environment: "app.environment";
    Module: "app.module";
    License: "app.license";
    Installation: "app.installation";
    InstallationContext: "app.installation.contexts[]";
    Context: "context";
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An `app` claim with every typed member and an unknown one at each level.
    fn full_app() -> Value {
        json!({
            "id": "ari:cloud:ecosystem::app/1",
            "installationId": "ari:cloud:ecosystem::installation/2",
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/3",
            "appVersion": "2.14.0",
            "environment": {"type": "PRODUCTION", "id": "env", "later": 1},
            "module": {"type": "xen:macro", "key": "m", "later": [1]},
            "license": {"isActive": true, "billingPeriod": "MONTHLY"},
            "installation": {
                "id": "ari:cloud:ecosystem::installation/2",
                "contexts": [{"name": "site", "cloudId": "3", "apiBaseUrl": "https://x", "later": {}}],
                "later": "x"
            },
            "later": {"nested": true}
        })
    }

    #[test]
    fn a_typed_claim_writes_back_out_as_it_came_and_deserialize_types_it_the_same() {
        let typed = App::from_json(full_app()).expect("app");
        assert_eq!(
            typed.environment.as_ref().and_then(|e| e.kind.as_deref()),
            Some("PRODUCTION")
        );
        assert_eq!(typed.installation.as_ref().map(|i| i.contexts.len()), Some(1));
        assert_eq!(typed.extra.get("later"), Some(&json!({"nested": true})));
        assert_eq!(serde_json::to_value(&typed).expect("json"), full_app());
        assert_eq!(serde_json::from_value::<App>(full_app()).expect("serde"), typed);

        let context = json!({"cloudId": "3", "siteUrl": "https://acme.atlassian.net", "moduleKey": "m",
            "localId": "l", "extension": {"type": "macro"}, "later": 2});
        let typed = Context::from_json(context.clone()).expect("context");
        assert_eq!(typed.extension, Some(json!({"type": "macro"})));
        assert_eq!(serde_json::to_value(&typed).expect("json"), context);
        assert_eq!(serde_json::from_value::<Context>(context).expect("serde"), typed);
    }

    #[test]
    fn null_members_are_absent_and_not_kept_as_extra() {
        let mut app = full_app();
        app["appVersion"] = Value::Null;
        app["installation"] = Value::Null;
        let typed = App::from_json(app).expect("app");
        assert_eq!((typed.app_version, typed.installation), (None, None));
        assert!(!typed.extra.contains_key("appVersion") && !typed.extra.contains_key("installation"));
    }

    #[test]
    fn a_member_of_the_wrong_type_or_missing_is_refused_by_its_path() {
        let refused = |path: &[&str], value: Value| {
            let mut app = full_app();
            let (last, parents) = path.split_last().expect("path");
            let mut at = &mut app;
            for p in parents {
                at = match p.parse::<usize>() {
                    Ok(i) => &mut at[i],
                    Err(_) => &mut at[*p],
                };
            }
            match (value, last.parse::<usize>()) {
                (v, Ok(i)) => at[i] = v,
                (Value::Null, Err(_)) => {
                    at.as_object_mut().expect("object").remove(*last);
                }
                (v, Err(_)) => at[*last] = v,
            }
            App::from_json(app).expect_err("refused")
        };
        assert_eq!(refused(&["id"], Value::Null), "app.id is missing");
        assert_eq!(
            refused(&["apiBaseUrl"], json!(7)),
            "app.apiBaseUrl is a number, not a string"
        );
        assert_eq!(
            refused(&["environment", "id"], json!(["x"])),
            "app.environment.id is an array, not a string"
        );
        assert_eq!(
            refused(&["module"], json!("m")),
            "app.module is a string, not an object"
        );
        assert_eq!(
            refused(&["license", "isActive"], json!("yes")),
            "app.license.isActive is a string, not true or false"
        );
        assert_eq!(
            refused(&["installation", "contexts"], json!({})),
            "app.installation.contexts is an object, not an array"
        );
        assert_eq!(
            refused(&["installation", "contexts", "0"], json!(1)),
            "app.installation.contexts[] is a number, not an object"
        );
        assert_eq!(
            Context::from_json(json!([1])).expect_err("refused"),
            "context is an array, not an object"
        );
        assert!(serde_json::from_value::<App>(json!({"id": 1})).is_err());
    }
}
