//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the body types' `ToSchema` derives. What every operation shares (the error
//! body, the HTML answers to forms, 413/415/503) is added once, by `Conventions`, from the
//! same facts the router uses. A test walks the route table against the served document.
use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, HttpMethod, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::*;
use crate::domain::{EMAIL_MAX, EMAIL_PATTERN, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, USERNAME_MAX, USERNAME_PATTERN};

pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";
pub const HTML: &str = "text/html";
const TOKEN_ENDPOINT: &str = "/oauth/token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "portcullis",
        description = "Sign-in server: short-lived JWT access tokens, rotating refresh tokens, real logout. \
            Every endpoint that takes a body accepts JSON and, where a page posts to it, an HTML form \
            (with `csrf_token` and `next`); a form is answered with a `303` or an HTML page, JSON with JSON."
    ),
    paths(
        health::healthz, health::jwks, openapi, status::metadata, status::status_list, assets::serve,
        pages::home, pages::login_form, pages::signup_form, pages::dashboard, mfa::account,
        account::delete_page, account::delete_account_form, mfa::code_step_page, account::forgot_page,
        account::reset_page,
        oauth::token,
        account::forgot, account::reset, account::change_password, account::delete_account,
        auth::signup, auth::login, mfa::login_mfa, mfa::status, mfa::start_totp, mfa::disable_totp,
        mfa::confirm_totp, mfa::disable_totp_form, mfa::regenerate_codes,
        passkeys::register_start, passkeys::register_finish, passkeys::login_start, passkeys::login_finish,
        passkeys::remove, passkeys::remove_form,
        auth::refresh, auth::logout, auth::csrf_token, auth::logout_all, auth::list_sessions,
        auth::revoke_session, auth::revoke_session_form, auth::me,
        admin::list_users, admin::update_user, admin::user_sessions, admin::logout_all, admin::revoke_session,
        admin::audit, admin::reset_mfa,
        admin_pages::users, admin_pages::user, admin_pages::confirm_logout_all, admin_pages::logout_all,
        admin_pages::change_role, admin_pages::revoke_session, admin_pages::confirm_reset_mfa,
        admin_pages::reset_mfa, admin_pages::audit,
    ),
    components(schemas(crate::error::ErrorBody, extract::FormMeta, AuditKindFilter)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Sign-up, sign-in, refresh, logout, sessions"),
        (name = "account", description = "Password and account self-service"),
        (name = "mfa", description = "TOTP and recovery codes"),
        (name = "passkeys", description = "WebAuthn passkeys"),
        (name = "oauth", description = "RFC 6749 token endpoint and RFC 8414 metadata"),
        (name = "admin", description = "The administrator's JSON surface"),
        (name = "pages", description = "Server-rendered HTML pages"),
        (name = "meta", description = "Health, keys, status lists, this document"),
    )
)]
pub struct ApiDoc;

/// What the handlers' attributes leave to one place.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let schemes = [
            (
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
            ),
            (
                "accessCookie",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    super::cookies::ACCESS_COOKIE,
                    "The access token as set by a sign-in; unsafe methods also need the CSRF token",
                ))),
            ),
            (
                "refreshCookie",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    super::cookies::REFRESH_COOKIE,
                    "HttpOnly; SameSite=Strict; Path=/; needs the CSRF token (X-CSRF-Token or csrf_token)",
                ))),
            ),
            // Declared so OAuth tooling (and fuzzers) know where credentials are minted.
            (
                "oauth2",
                SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new("/oauth/token", Scopes::new()))])),
            ),
        ];
        for (name, scheme) in schemes {
            components.security_schemes.insert(name.to_string(), scheme);
        }
        // A second factor is a code or a recovery code: at least one of the two.
        for name in ["DisableTotpRequest", "LoginMfaRequest"] {
            if let Some(schema) = components.schemas.remove(name) {
                let one_of_two = AnyOfBuilder::new()
                    .item(ObjectBuilder::new().required("code"))
                    .item(ObjectBuilder::new().required("recovery_code"));
                components.schemas.insert(name.into(), AllOfBuilder::new().item(schema).item(one_of_two).into());
            }
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (_, operation) in operations {
                if let Some(operation) = operation {
                    complete(path, operation);
                }
            }
        }
    }
}

/// The shared answers of one operation.
fn complete(path: &str, operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    // RFC 6749's endpoint takes a bare form and answers every body problem with its own 400:
    // no CSRF token, no `next`, never a redirect, never a 415.
    let rfc6749 = path == TOKEN_ENDPOINT;
    let mut takes_form = false;
    if let Some(RequestBody { content, required, .. }) = operation.request_body.as_mut() {
        // An optional body (`Option<T>` in the attribute) may be absent; it is never `null`.
        if *required != Some(Required::True) {
            for media in content.values_mut() {
                if let Some(RefOr::T(Schema::OneOf(one_of))) = &media.schema {
                    let mut items = one_of.items.iter().filter(|item| !is_null(item));
                    if let (Some(item), None) = (items.next(), items.next()) {
                        media.schema = Some(item.clone());
                    }
                }
            }
        }
        // A form carries the CSRF token and the page to return to beside its own fields.
        if let Some(form) = content.get_mut(FORM).filter(|_| !rfc6749) {
            takes_form = true;
            if let Some(schema) = form.schema.take() {
                let meta = RefOr::Ref(Ref::from_schema_name("FormMeta"));
                form.schema = Some(AllOfBuilder::new().item(schema).item(meta).into());
            }
        }
        responses.entry("413".into()).or_insert_with(|| problem("payload_too_large: the body is over 4 KiB"));
        if !rfc6749 {
            responses
                .entry("415".into())
                .or_insert_with(|| problem("unsupported_media_type: the body is neither application/json nor a form"));
        }
    }
    if takes_form {
        responses.entry("303".into()).or_insert_with(|| {
            ResponseBuilder::new().description("A form: done (or the session is gone); see Location").into()
        });
    }
    if !matches!(path, "/static/{name}" | "/openapi.json" | "/.well-known/jwks.json") {
        responses
            .entry("503".into())
            .or_insert_with(|| problem("unavailable: the database cannot be reached; retry after Retry-After"));
    }
    // Every 429 carries the headers `error::rate_limit_headers` builds.
    if let Some(RefOr::T(response)) = responses.get_mut("429") {
        add_rate_limit_headers(response);
    }
    // Every refusal is the contract's error body, or an HTML page to a browser.
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('4') || status.starts_with('5'), response) {
            if response.content.is_empty() {
                add_problem_content(response);
            }
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null))
}

fn add_rate_limit_headers(response: &mut utoipa::openapi::Response) {
    let integer = || ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
    let headers = [
        ("Retry-After", integer(), "Seconds until a request can succeed"),
        ("RateLimit-Remaining", integer(), "Requests left in the window: 0"),
        ("RateLimit-Reset", integer(), "Seconds until the limit resets (as Retry-After)"),
        ("RateLimit-Limit", integer(), "The per-IP limiter's burst (per-IP refusals only)"),
        (
            "RateLimit-Policy",
            ObjectBuilder::new().schema_type(Type::String),
            "The per-IP policy, `burst;w=seconds` (per-IP refusals only)",
        ),
    ];
    for (name, schema, description) in headers {
        response
            .headers
            .entry(name.to_string())
            .or_insert_with(|| HeaderBuilder::new().schema(schema).description(Some(description)).build());
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description).build();
    add_problem_content(&mut response);
    RefOr::T(response)
}

fn add_problem_content(response: &mut utoipa::openapi::Response) {
    let error = ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build();
    response.content.insert(JSON.to_string(), error);
    response.content.insert(HTML.to_string(), html());
}

fn html() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build()
}

/// The field schemas whose rules live in `domain`, built from the same constants.
pub mod fields {
    use super::*;

    fn string(description: &str) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String).description(Some(description))
    }

    pub fn username() -> Schema {
        string("3 to 32 letters a-z, digits, '.', '_' and '-', starting with a letter or digit; case-insensitive")
            .min_length(Some(3))
            .max_length(Some(USERNAME_MAX))
            .pattern(Some(USERNAME_PATTERN))
            .into()
    }

    pub fn email() -> Schema {
        string("A plain ASCII address (dot-atom local part, a domain of two or more labels)")
            .max_length(Some(EMAIL_MAX))
            .pattern(Some(EMAIL_PATTERN))
            .into()
    }

    /// A password being chosen: also scored by zxcvbn (`422 weak_password`).
    pub fn new_password() -> Schema {
        string(
            "At least 8 characters and at most 72 bytes (bcrypt's limit; never truncated); too common or \
             guessable passwords answer 422 weak_password",
        )
        .min_length(Some(PASSWORD_MIN_CHARS))
        .max_length(Some(PASSWORD_MAX_BYTES))
        .into()
    }

    /// A password being proven: anything else than the password answers as a wrong one.
    pub fn password() -> Schema {
        string("The current password").min_length(Some(1)).into()
    }

    /// A user name or an email address, as `/auth/login` takes it.
    pub fn login_name() -> Schema {
        string("A username or an email address")
            .min_length(Some(1))
            .max_length(Some(EMAIL_MAX))
            .pattern(Some("^[^\\u0000-\\u001f\\u007f-\\u009f]*$"))
            .into()
    }

    /// A TOTP code or a recovery code: anything but blanks.
    pub fn factor() -> Schema {
        string("A 6-digit code from the authenticator app, or a recovery code").pattern(Some("\\S")).into()
    }

    pub fn passkey_name() -> Schema {
        string("1 to 64 characters, not all blank, no control characters")
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(
                "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
            ))
            .into()
    }

    pub fn required_text() -> Schema {
        string("Required").min_length(Some(1)).into()
    }
}

/// Declares a string enum schema from a list the code already keeps.
macro_rules! string_enum {
    ($name:ident, $description:literal, $values:expr) => {
        #[doc = $description]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_enum!(RoleName, "A role", [crate::domain::Role::User.as_str(), crate::domain::Role::Admin.as_str()]);
string_enum!(AuditKindName, "An audit event kind", crate::audit::AuditKind::ALL.iter().map(|k| k.as_str()));
string_enum!(
    AuditKindFilter,
    "An audit event kind; empty for all",
    std::iter::once("").chain(crate::audit::AuditKind::ALL.iter().map(|k| k.as_str()))
);

/// Every documented `(method, path)`, lower-case method, for the test that keeps the document
/// and the router in step.
pub fn documented() -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(document()).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    out.push((method.to_string(), path.clone()));
                }
            }
        }
    }
    out
}

fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).content_type(JSON).body(document())
}
