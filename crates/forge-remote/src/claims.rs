//! The claims of a Forge Invocation Token, typed as Forge documents them; every field Forge
//! adds later is kept as JSON (`extra`), never dropped and never refused.

use asap_core::{ClaimValue, FromJsonObject, Members, TypedClaims};
use serde::de::{Deserializer, MapAccess};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ForgeError;

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

/// The claims a Forge token types itself, straight from the claims' text
/// ([`asap_core::TypedClaims`]): `app` and `context`, with the core's strict rules inside them.
/// One rule for both ways in: the verifier reads them through each type's [`FromJsonObject`],
/// and each type's `Deserialize` goes through the same impl. `null` counts as absent for every
/// optional member; what is not typed stays in `extra`.
#[derive(Debug, Default)]
pub(crate) struct ForgeClaims {
    pub(crate) app: Option<App>,
    pub(crate) context: Option<Context>,
}

impl TypedClaims for ForgeClaims {
    const NAMES: &'static [&'static str] = &["app", "context"];
    type Error = ForgeError;

    fn type_claim<'de, D: Deserializer<'de>>(
        &mut self,
        name: &'static str,
        value: ClaimValue<'_, D>,
    ) -> Result<(), D::Error> {
        if name == "app" {
            self.app = value.object()?;
        } else {
            self.context = value.object()?;
        }
        Ok(())
    }

    fn refused(claim: &'static str, reason: String) -> ForgeError {
        ForgeError::InvalidClaim { claim, reason }
    }
}

impl FromJsonObject for App {
    fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<App, A::Error> {
        let (mut id, mut installation_id, mut api_base_url, mut app_version) = (None, None, None, None);
        let (mut environment, mut module, mut license, mut installation) = (None, None, None, None);
        let mut extra = Map::new();
        while let Some(member) = m.next_member()? {
            match member.name() {
                "id" => id = member.string()?,
                "installationId" => installation_id = member.string()?,
                "apiBaseUrl" => api_base_url = member.string()?,
                "appVersion" => app_version = member.string()?,
                "environment" => environment = member.object()?,
                "module" => module = member.object()?,
                "license" => license = member.object()?,
                "installation" => installation = member.object()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(App {
            id: m.required("id", id)?,
            installation_id: m.required("installationId", installation_id)?,
            api_base_url: m.required("apiBaseUrl", api_base_url)?,
            app_version,
            environment,
            module,
            license,
            installation,
            extra,
        })
    }
}

impl FromJsonObject for Environment {
    fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Environment, A::Error> {
        let (mut kind, mut id, mut extra) = (None, None, Map::new());
        while let Some(member) = m.next_member()? {
            match member.name() {
                "type" => kind = member.string()?,
                "id" => id = member.string()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(Environment { kind, id, extra })
    }
}

impl FromJsonObject for Module {
    fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Module, A::Error> {
        let (mut kind, mut key, mut extra) = (None, None, Map::new());
        while let Some(member) = m.next_member()? {
            match member.name() {
                "type" => kind = member.string()?,
                "key" => key = member.string()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(Module { kind, key, extra })
    }
}

impl FromJsonObject for License {
    fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<License, A::Error> {
        let (mut is_active, mut extra) = (None, Map::new());
        while let Some(member) = m.next_member()? {
            match member.name() {
                "isActive" => is_active = member.bool()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(License { is_active, extra })
    }
}

impl FromJsonObject for Installation {
    fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Installation, A::Error> {
        let (mut id, mut contexts, mut extra) = (None, Vec::new(), Map::new());
        while let Some(member) = m.next_member()? {
            match member.name() {
                "id" => id = member.string()?,
                "contexts" => contexts = member.objects()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(Installation { id, contexts, extra })
    }
}

impl FromJsonObject for InstallationContext {
    fn from_members<'de, A: MapAccess<'de>>(
        m: &mut Members<'_, 'de, A>,
    ) -> Result<InstallationContext, A::Error> {
        let (mut name, mut cloud_id, mut api_base_url, mut extra) = (None, None, None, Map::new());
        while let Some(member) = m.next_member()? {
            match member.name() {
                "name" => name = member.string()?,
                "cloudId" => cloud_id = member.string()?,
                "apiBaseUrl" => api_base_url = member.string()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(InstallationContext {
            name,
            cloud_id,
            api_base_url,
            extra,
        })
    }
}

impl FromJsonObject for Context {
    fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Context, A::Error> {
        let (mut cloud_id, mut site_url, mut module_key, mut local_id) = (None, None, None, None);
        let (mut extension, mut extra) = (None, Map::new());
        while let Some(member) = m.next_member()? {
            match member.name() {
                "cloudId" => cloud_id = member.string()?,
                "siteUrl" => site_url = member.string()?,
                "moduleKey" => module_key = member.string()?,
                "localId" => local_id = member.string()?,
                "extension" => extension = member.json()?,
                _ => member.keep(&mut extra)?,
            }
        }
        Ok(Context {
            cloud_id,
            site_url,
            module_key,
            local_id,
            extension,
            extra,
        })
    }
}

/// `Deserialize` for each claim type through its [`FromJsonObject`]: the same typing as the
/// verifier's, so the two cannot drift apart; the path names where the type sits in the claims.
macro_rules! deserialize_as_object {
    ($($ty:ident: $path:literal;)*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                asap_core::deserialize_object(deserializer, $path)
            }
        }
    )*};
}

deserialize_as_object! {
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

    /// `App`'s typing (its `Deserialize`, the verifier's `FromJsonObject`), the refusal as its
    /// message.
    fn typed_app(value: Value) -> Result<App, String> {
        App::deserialize(value).map_err(|e| e.to_string())
    }

    fn typed_context(value: Value) -> Result<Context, String> {
        Context::deserialize(value).map_err(|e| e.to_string())
    }

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
        let typed = typed_app(full_app()).expect("app");
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
        let typed = typed_context(context.clone()).expect("context");
        assert_eq!(typed.extension, Some(json!({"type": "macro"})));
        assert_eq!(serde_json::to_value(&typed).expect("json"), context);
        assert_eq!(serde_json::from_value::<Context>(context).expect("serde"), typed);
    }

    #[test]
    fn the_verifier_types_app_and_context_as_their_deserialize_does() {
        let context = json!({"cloudId": "3", "extension": {"type": "macro"}, "later": [null]});
        let text = json!({"iss": "forge/invocation-token", "app": full_app(), "context": context,
            "principal": "p"})
        .to_string();
        let mut typed = ForgeClaims::default();
        let claims = asap_core::RegisteredClaims::decode_with(text.as_bytes(), &mut typed).expect("claims");
        assert_eq!(typed.app, Some(typed_app(full_app()).expect("app")));
        assert_eq!(typed.context, Some(typed_context(context).expect("context")));
        assert_eq!(
            serde_json::from_str::<App>(&full_app().to_string()).expect("from text"),
            typed.app.expect("app")
        );
        assert_eq!(claims.extra.keys().collect::<Vec<_>>(), ["principal"]);
    }

    #[test]
    fn the_verifier_refuses_a_member_by_its_claim_and_path() {
        let mut app = full_app();
        app["installation"]["contexts"][0]["cloudId"] = json!(3);
        let text = json!({ "app": app }).to_string();
        let refused = asap_core::RegisteredClaims::decode_with(text.as_bytes(), &mut ForgeClaims::default())
            .expect_err("refused");
        assert!(
            matches!(
                &refused,
                ForgeError::InvalidClaim { claim: "app", reason }
                    if reason == "app.installation.contexts[].cloudId is a number, not a string"
            ),
            "{refused}"
        );
    }

    #[test]
    fn null_members_are_absent_and_not_kept_as_extra() {
        let mut app = full_app();
        app["appVersion"] = Value::Null;
        app["installation"] = Value::Null;
        let typed = typed_app(app).expect("app");
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
            typed_app(app).expect_err("refused")
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
            typed_context(json!([1])).expect_err("refused"),
            "context is an array, not an object"
        );
        assert!(serde_json::from_value::<App>(json!({"id": 1})).is_err());
    }
}
