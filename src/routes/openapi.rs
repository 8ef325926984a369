//! `GET /openapi.json`: the OpenAPI 3.1 description of every JSON endpoint.
use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

/// One operation: method, path, summary, how it authenticates, request schema, success.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    security: Security,
    body: Option<&'static str>,
    ok: (&'static str, Option<&'static str>),
    errors: &'static [&'static str],
}

#[derive(Clone, Copy)]
enum Security {
    None,
    Bearer,
    Refresh,
}

const OPS: &[Op] = &[
    Op {
        method: "post",
        path: "/auth/signup",
        summary: "Create an account and sign in",
        security: Security::None,
        body: Some("SignupRequest"),
        ok: ("201", Some("TokenResponse")),
        errors: &["400", "409", "413", "415", "422", "429"],
    },
    Op {
        method: "post",
        path: "/auth/login",
        summary: "Sign in (username or email)",
        security: Security::None,
        body: Some("LoginRequest"),
        ok: ("200", Some("TokenResponse")),
        errors: &["400", "401", "413", "415", "429"],
    },
    Op {
        method: "post",
        path: "/auth/refresh",
        summary: "Rotate a refresh token (body or cookie)",
        security: Security::Refresh,
        body: Some("RefreshRequest"),
        ok: ("200", Some("TokenResponse")),
        errors: &["400", "401", "403", "429"],
    },
    Op {
        method: "post",
        path: "/auth/logout",
        summary: "End this session",
        security: Security::Refresh,
        body: Some("RefreshRequest"),
        ok: ("204", None),
        errors: &["401", "403"],
    },
    Op {
        method: "post",
        path: "/auth/logout-all",
        summary: "End every session of the caller",
        security: Security::Bearer,
        body: None,
        ok: ("204", None),
        errors: &["401", "403"],
    },
    Op {
        method: "get",
        path: "/auth/sessions",
        summary: "The caller's live sessions",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("SessionList")),
        errors: &["401"],
    },
    Op {
        method: "delete",
        path: "/auth/sessions/{id}",
        summary: "End one of the caller's sessions",
        security: Security::Bearer,
        body: None,
        ok: ("204", None),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "get",
        path: "/auth/csrf",
        summary: "The CSRF token of the browser session (extension)",
        security: Security::None,
        body: None,
        ok: ("200", Some("CsrfToken")),
        errors: &[],
    },
    Op {
        method: "post",
        path: "/auth/password",
        summary: "Change the password; other sessions end",
        security: Security::Bearer,
        body: Some("ChangePasswordRequest"),
        ok: ("204", None),
        errors: &["400", "401", "403", "422"],
    },
    Op {
        method: "post",
        path: "/auth/password/forgot",
        summary: "Mail a single-use reset link (same answer for any email)",
        security: Security::None,
        body: Some("ForgotRequest"),
        ok: ("202", None),
        errors: &["400", "429"],
    },
    Op {
        method: "post",
        path: "/auth/password/reset",
        summary: "Set a new password with a reset token; every session ends",
        security: Security::None,
        body: Some("ResetRequest"),
        ok: ("204", None),
        errors: &["400", "422", "429"],
    },
    Op {
        method: "delete",
        path: "/auth/account",
        summary: "Delete the caller's account",
        security: Security::Bearer,
        body: Some("DeleteAccountRequest"),
        ok: ("204", None),
        errors: &["400", "401", "403", "409"],
    },
    Op {
        method: "post",
        path: "/oauth/token",
        summary: "OAuth 2.0 token endpoint (password and refresh_token grants, RFC 6749)",
        security: Security::None,
        body: Some("OAuthTokenRequest"),
        ok: ("200", Some("OAuthTokenResponse")),
        errors: &["400", "429"],
    },
    Op {
        method: "get",
        path: "/api/me",
        summary: "The signed-in user",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("User")),
        errors: &["401"],
    },
    Op {
        method: "get",
        path: "/api/admin/users",
        summary: "Users, by username/email prefix, paged (X-Total-Count)",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("UserList")),
        errors: &["400", "401", "403"],
    },
    Op {
        method: "patch",
        path: "/api/admin/users/{id}",
        summary: "Change a user's role (the last admin keeps it)",
        security: Security::Bearer,
        body: Some("RoleRequest"),
        ok: ("200", Some("User")),
        errors: &["400", "401", "403", "404", "409"],
    },
    Op {
        method: "get",
        path: "/api/admin/users/{id}/sessions",
        summary: "A user's live sessions",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("SessionList")),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "post",
        path: "/api/admin/users/{id}/logout-all",
        summary: "Force a user out of every session",
        security: Security::Bearer,
        body: None,
        ok: ("204", None),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "delete",
        path: "/api/admin/sessions/{id}",
        summary: "End any session",
        security: Security::Bearer,
        body: None,
        ok: ("204", None),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "get",
        path: "/api/admin/audit",
        summary: "Audit events, newest first (user_id, kind, page, per_page)",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("AuditEventList")),
        errors: &["400", "401", "403"],
    },
    Op {
        method: "post",
        path: "/auth/login/mfa",
        summary: "Complete a sign-in with a TOTP or recovery code",
        security: Security::None,
        body: Some("LoginMfaRequest"),
        ok: ("200", Some("TokenResponse")),
        errors: &["400", "401", "413", "415", "429"],
    },
    Op {
        method: "get",
        path: "/auth/mfa",
        summary: "The caller's second factors",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("MfaStatus")),
        errors: &["401"],
    },
    Op {
        method: "post",
        path: "/auth/mfa/totp",
        summary: "Start a TOTP enrolment (password again)",
        security: Security::Bearer,
        body: Some("PasswordRequest"),
        ok: ("200", Some("TotpEnrolment")),
        errors: &["400", "401", "403", "409", "429"],
    },
    Op {
        method: "delete",
        path: "/auth/mfa/totp",
        summary: "Turn TOTP off (password and a code or recovery code)",
        security: Security::Bearer,
        body: Some("DisableTotpRequest"),
        ok: ("204", None),
        errors: &["400", "401", "403", "404", "429"],
    },
    Op {
        method: "post",
        path: "/auth/mfa/totp/confirm",
        summary: "Confirm the pending TOTP secret with a code",
        security: Security::Bearer,
        body: Some("CodeRequest"),
        ok: ("200", Some("RecoveryCodes")),
        errors: &["400", "401", "403", "404", "409"],
    },
    Op {
        method: "post",
        path: "/auth/mfa/recovery-codes",
        summary: "New recovery codes (password again)",
        security: Security::Bearer,
        body: Some("PasswordRequest"),
        ok: ("200", Some("RecoveryCodes")),
        errors: &["400", "401", "403", "404", "429"],
    },
    Op {
        method: "post",
        path: "/auth/passkeys/register/start",
        summary: "Creation options for a new passkey",
        security: Security::Bearer,
        body: None,
        ok: ("200", Some("WebAuthnOptions")),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "post",
        path: "/auth/passkeys/register/finish",
        summary: "Store a new passkey",
        security: Security::Bearer,
        body: Some("PasskeyRegistration"),
        ok: ("201", Some("Passkey")),
        errors: &["400", "401", "403", "404"],
    },
    Op {
        method: "delete",
        path: "/auth/passkeys/{id}",
        summary: "Remove a passkey",
        security: Security::Bearer,
        body: None,
        ok: ("204", None),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "post",
        path: "/auth/passkeys/login/start",
        summary: "Request options for a usernameless passkey sign-in",
        security: Security::None,
        body: None,
        ok: ("200", Some("WebAuthnOptions")),
        errors: &["404", "429"],
    },
    Op {
        method: "post",
        path: "/auth/passkeys/login/finish",
        summary: "Sign in with a passkey",
        security: Security::None,
        body: Some("PasskeyLogin"),
        ok: ("200", Some("TokenResponse")),
        errors: &["400", "401", "404", "429"],
    },
    Op {
        method: "delete",
        path: "/api/admin/users/{id}/mfa",
        summary: "Remove a user's second factors and end their sessions",
        security: Security::Bearer,
        body: None,
        ok: ("204", None),
        errors: &["401", "403", "404"],
    },
    Op {
        method: "get",
        path: "/.well-known/jwks.json",
        summary: "Public keys that verify access tokens",
        security: Security::None,
        body: None,
        ok: ("200", Some("JwkSet")),
        errors: &[],
    },
    Op {
        method: "get",
        path: "/healthz",
        summary: "Liveness and database reachability",
        security: Security::None,
        body: None,
        ok: ("200", Some("Health")),
        errors: &["503"],
    },
];

/// Every documented (method, path), for the test that keeps the document complete.
pub fn documented() -> Vec<(&'static str, &'static str)> {
    OPS.iter().map(|op| (op.method, op.path)).collect()
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn strings(fields: &[&str]) -> Value {
    let props: Map<String, Value> = fields.iter().map(|f| (f.to_string(), json!({"type": "string"}))).collect();
    json!({ "type": "object", "properties": props })
}

fn required(mut object: Value, fields: &[&str]) -> Value {
    object["required"] = json!(fields);
    object
}

fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let mut operation = json!({ "summary": op.summary, "responses": {} });
        let ok = match op.ok.1 {
            Some(s) => json!({ "description": "success", "content": { "application/json": { "schema": schema(s) } } }),
            None => json!({ "description": "success" }),
        };
        operation["responses"][op.ok.0] = ok;
        for status in op.errors {
            operation["responses"][*status] = json!({ "description": "see API.md", "content": { "application/json": { "schema": schema("Error") } } });
        }
        if let Some(body) = op.body {
            let types = if op.path == "/oauth/token" {
                json!({ "application/x-www-form-urlencoded": { "schema": schema(body) } })
            } else {
                json!({ "application/json": { "schema": schema(body) }, "application/x-www-form-urlencoded": { "schema": schema(body) } })
            };
            operation["requestBody"] =
                json!({ "required": !matches!(op.security, Security::Refresh), "content": types });
        }
        operation["security"] = match op.security {
            Security::None => json!([]),
            Security::Bearer => json!([{ "bearer": [] }, { "accessCookie": [] }]),
            Security::Refresh => json!([{ "refreshCookie": [] }, {}]),
        };
        if op.path.contains("{id}") {
            operation["parameters"] =
                json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]);
        }
        paths.entry(op.path.to_string()).or_insert_with(|| json!({}))[op.method] = operation;
    }
    let user = required(
        strings(&["id", "username", "email", "role", "created_at"]),
        &["id", "username", "email", "role", "created_at"],
    );
    let mut session = strings(&["id", "created_at", "last_used_at", "expires_at", "user_agent", "ip"]);
    session["properties"]["current"] = json!({"type": "boolean"});
    let mut token = strings(&["access_token", "token_type", "refresh_token"]);
    token["properties"]["expires_in"] = json!({"type": "integer"});
    token["properties"]["user"] = schema("User");
    let mut oauth = strings(&["access_token", "token_type", "refresh_token"]);
    oauth["properties"]["expires_in"] = json!({"type": "integer"});
    let mut error = required(strings(&["error", "error_description"]), &["error", "error_description"]);
    error["properties"]["fields"] = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "openapi": "3.1.0",
        "info": { "title": "portcullis", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Sign-in server: short-lived JWT access tokens, rotating refresh tokens." },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "accessCookie": { "type": "apiKey", "in": "cookie", "name": "access_token" },
                "refreshCookie": { "type": "apiKey", "in": "cookie", "name": "refresh_token" }
            },
            "schemas": {
                "User": user,
                "UserList": { "type": "array", "items": schema("User") },
                "Session": session,
                "SessionList": { "type": "array", "items": schema("Session") },
                "TokenResponse": token,
                "OAuthTokenResponse": oauth,
                "AuditEvent": strings(&["id", "at", "kind", "user_id", "actor", "ip", "user_agent", "detail"]),
                "AuditEventList": { "type": "array", "items": schema("AuditEvent") },
                "Error": error,
                "SignupRequest": required(strings(&["username", "email", "password"]), &["username", "email", "password"]),
                "LoginRequest": required(strings(&["username", "password"]), &["username", "password"]),
                "RefreshRequest": strings(&["refresh_token"]),
                "ChangePasswordRequest": required(strings(&["current_password", "new_password"]), &["current_password", "new_password"]),
                "ForgotRequest": required(strings(&["email"]), &["email"]),
                "ResetRequest": required(strings(&["token", "new_password"]), &["token", "new_password"]),
                "DeleteAccountRequest": required(strings(&["password"]), &["password"]),
                "RoleRequest": required(json!({"type": "object", "properties": {"role": {"enum": ["user", "admin"]}}}), &["role"]),
                "OAuthTokenRequest": required(strings(&["grant_type", "username", "password", "refresh_token"]), &["grant_type"]),
                "CsrfToken": strings(&["csrf_token"]),
                "JwkSet": { "type": "object", "properties": { "keys": { "type": "array", "items": { "type": "object" } } } },
                "Health": strings(&["status"]),
                "LoginMfaRequest": required(strings(&["mfa_token", "code", "recovery_code"]), &["mfa_token"]),
                "PasswordRequest": required(strings(&["password"]), &["password"]),
                "CodeRequest": required(strings(&["code"]), &["code"]),
                "DisableTotpRequest": required(strings(&["password", "code", "recovery_code"]), &["password"]),
                "TotpEnrolment": required(strings(&["secret", "otpauth_uri"]), &["secret", "otpauth_uri"]),
                "RecoveryCodes": { "type": "object", "properties": { "recovery_codes": { "type": "array", "items": { "type": "string" } } } },
                "Passkey": { "type": "object", "properties": { "id": {"type": "string"}, "name": {"type": "string"}, "created_at": {"type": "string"}, "last_used_at": {"type": ["string", "null"]} } },
                "MfaStatus": { "type": "object", "properties": { "totp": {"type": "boolean"}, "recovery_codes_left": {"type": "integer"}, "passkeys": { "type": "array", "items": schema("Passkey") } } },
                "WebAuthnOptions": { "type": "object", "properties": { "publicKey": {"type": "object"}, "login_id": {"type": "string"} } },
                "PasskeyRegistration": required(json!({"type": "object", "properties": {"name": {"type": "string"}, "credential": {"type": "object"}}}), &["name", "credential"]),
                "PasskeyLogin": required(json!({"type": "object", "properties": {"login_id": {"type": "string"}, "credential": {"type": "object"}}}), &["login_id", "credential"])
            }
        }
    })
}

pub async fn openapi() -> HttpResponse {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(DOCUMENT.get_or_init(document))
}
