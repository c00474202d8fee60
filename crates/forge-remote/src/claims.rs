//! The claims of a Forge Invocation Token, typed as Forge documents them; every field Forge
//! adds later is kept as JSON (`extra`), never dropped and never refused.

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The environment the app runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The module invoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<Module>,
    /// The licence of the installation (paid apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// The installation and the contexts (sites, workspaces) it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<Installation>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.environment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Environment {
    /// `DEVELOPMENT`, `STAGING` or `PRODUCTION`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The environment id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.module`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Module {
    /// The module type, e.g. `xen:macro`, `core:endpoint`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The module key from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.license`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct License {
    /// Whether the licence is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Every other member (billing period, entitlement, trial end, …), as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `app.installation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Installation {
    /// The installation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The contexts the installation covers.
    #[serde(default)]
    pub contexts: Vec<InstallationContext>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One of `app.installation.contexts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InstallationContext {
    /// The context's name (an ARI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The site's cloud id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    /// The product API base URL for this context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Every other member, as JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `context` claim: as present (Forge sends different members for different modules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Context {
    /// The site's cloud id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    /// The site URL, e.g. `https://acme.atlassian.net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_url: Option<String>,
    /// The module key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_key: Option<String>,
    /// The local id of the module instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// The product's extension data (issue, space, …), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
