//! Second factors: `/auth/mfa/*` (JSON, and the forms of `/account`), the code step of
//! sign-in (`/auth/login/mfa`, the `/login/mfa` page), and the account page that lists them.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::auth::{signed_in_json, signed_in_redirect};
use super::bodies::PasskeyView;
use super::csrf;
use super::extract::Input;
use super::pages::{self, render, FormError, Layout};
use super::redirect::see_other;
use super::respond::{form_or_json, Audience, OrPage, PageError};
use super::validate::{vouched, Checker};
use crate::audit::Requester;
use crate::auth::mfa::{MfaStatus, SecondFactor};
use crate::auth::{AuthService, Caller};
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub error: Option<FormError>,
    /// Which of the page's forms the error belongs to (shown in that card, on its fields).
    pub error_in: &'static str,
    pub username: String,
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<PasskeyView>,
    pub passkeys_available: bool,
}

/// The forms of `/account`, so an error is shown where it was made.
#[derive(Debug, Clone, Copy)]
pub enum AccountForm {
    Password,
    StartTotp,
    NewCodes,
    DisableTotp,
}

impl AccountForm {
    fn name(self) -> &'static str {
        match self {
            AccountForm::Password => "password",
            AccountForm::StartTotp => "totp",
            AccountForm::NewCodes => "codes",
            AccountForm::DisableTotp => "disable",
        }
    }
}

/// `/account` with the second factors, and the form error to show, if any.
pub async fn account_page(
    auth: &AuthService,
    session: &Session,
    caller: &Caller,
    error: Option<(&ApiError, AccountForm)>,
) -> Result<HttpResponse, PageError> {
    let (error, error_in) = match error {
        Some((error, form)) => (Some(error), form.name()),
        None => (None, ""),
    };
    let status = auth.mfa_status(&caller.user_id).await.or_page(session, Some(caller))?;
    let page = AccountPage {
        layout: Layout::new(session, Some(caller)),
        error: error.map(FormError::from),
        error_in,
        username: caller.username.clone(),
        totp: status.totp,
        recovery_codes_left: status.recovery_codes_left,
        passkeys: status.passkeys.into_iter().map(PasskeyView::from).collect(),
        passkeys_available: auth.passkeys_available(),
    };
    let response = render(error.map_or(StatusCode::OK, ResponseError::status_code), &page);
    Ok(match error {
        Some(error) => pages::with_error_headers(response, error),
        None => response,
    })
}

#[utoipa::path(get, path = "/account", tag = "pages", security(("accessCookie" = []), ()),
    responses(
        (status = 200, description = "Password, two-factor authentication and passkeys", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to /login?next=…"),
    ))]
pub async fn account(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
) -> Result<HttpResponse, PageError> {
    account_page(&auth, &session, &caller, None).await
}

#[derive(Template)]
#[template(path = "mfa_enrol.html")]
struct EnrolPage {
    layout: Layout,
    error: Option<FormError>,
    secret: String,
    otpauth_uri: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "mfa_codes.html")]
struct CodesPage {
    layout: Layout,
    codes: Vec<String>,
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
pub struct CodeStepPage {
    pub layout: Layout,
    pub error: Option<FormError>,
    pub mfa_token: String,
    pub next: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = PasswordRequest)]
pub struct PasswordBody {
    #[schema(schema_with = super::openapi::fields::password, required = true)]
    password: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TotpEnrolment)]
pub struct Enrolment {
    /// Base32, for typing into an authenticator app.
    secret: String,
    otpauth_uri: String,
}

/// The `otpauth://` URI as a QR code, an SVG drawn here (no image service sees the secret).
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
            // Inline SVG in HTML takes no XML declaration.
            svg.find("<svg").map(|start| svg[start..].to_string()).unwrap_or_default()
        }
        Err(_) => String::new(),
    }
}

#[utoipa::path(post, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = []), ("accessCookie" = [])), request_body(content((PasswordBody = "application/json"), (PasswordBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "A pending secret to confirm within 15 minutes (a form: the QR page)", content((Enrolment = "application/json"), (String = "text/html"))),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials, missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 409, description = "conflict: TOTP is already on"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/mfa/totp`: a pending secret (the password again).
pub async fn start_totp(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = async {
        let password = required_password(input.body.password)?;
        Ok::<_, ApiError>(auth.start_totp(&caller, &password, client).await?)
    }
    .await;
    let again = |e: ApiError| account_again(&auth, &session, &caller, e, AccountForm::StartTotp);
    let page = match (audience, outcome) {
        (Audience::Api, Ok(enrolment)) => {
            let body = Enrolment { secret: enrolment.secret, otpauth_uri: enrolment.otpauth_uri };
            return Ok(no_store(HttpResponse::Ok()).json(body));
        }
        (Audience::Api, Err(e)) => return Err(e),
        (Audience::Browser, Err(e)) => return Ok(again(e).await),
        (Audience::Browser, Ok(enrolment)) => EnrolPage {
            layout: Layout::new(&session, Some(&caller)),
            error: None,
            qr_svg: qr_svg(&enrolment.otpauth_uri),
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
        },
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = CodeRequest)]
pub struct CodeBody {
    /// The 6-digit code from the authenticator app.
    #[schema(schema_with = super::openapi::fields::required_text, required = true)]
    code: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Shown once; each works once.
    recovery_codes: Vec<String>,
}

#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "mfa", security(("bearer" = []), ("accessCookie" = [])), request_body(content((CodeBody = "application/json"), (CodeBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "TOTP is on; the recovery codes, shown once", content((RecoveryCodes = "application/json"), (String = "text/html"))),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_mfa_code, missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 404, description = "not_found: no pending enrolment"),
        (status = 409, description = "conflict: TOTP is already on"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/mfa/totp/confirm`: a code from the app turns TOTP on; recovery codes, once.
pub async fn confirm_totp(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = async {
        let mut check = Checker::default();
        let code = check.required("code", input.body.code);
        check.finish()?;
        Ok::<_, ApiError>(auth.confirm_totp(&caller, vouched(code)?.trim(), client).await?)
    }
    .await;
    codes_answer(&auth, &session, audience, &caller, outcome).await
}

#[utoipa::path(post, path = "/auth/mfa/recovery-codes", tag = "mfa", security(("bearer" = []), ("accessCookie" = [])), request_body(content((PasswordBody = "application/json"), (PasswordBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "New recovery codes; the old ones are dead", content((RecoveryCodes = "application/json"), (String = "text/html"))),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials, missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 404, description = "not_found: TOTP is off"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/mfa/recovery-codes`: new codes (the password again), the old ones dead.
pub async fn regenerate_codes(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = async {
        let password = required_password(input.body.password)?;
        Ok::<_, ApiError>(auth.regenerate_recovery_codes(&caller, &password, client).await?)
    }
    .await;
    codes_answer(&auth, &session, audience, &caller, outcome).await
}

/// The `password` field of a confirmation, checked as the contract says.
pub fn required_password(password: Option<String>) -> Result<secrecy::SecretString, ApiError> {
    let mut check = Checker::default();
    let password = check.current_password("password", password);
    check.finish()?;
    vouched(password)
}

/// Recovery codes as JSON, or on a page shown once.
async fn codes_answer(
    auth: &AuthService,
    session: &Session,
    audience: Audience,
    caller: &Caller,
    outcome: Result<Vec<String>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    if let (Audience::Browser, Err(e)) = (audience, &outcome) {
        // A wrong code at set-up: the same QR code again, with the error on the code field.
        if let Ok(Some(enrolment)) = auth.pending_totp(caller).await {
            let page = EnrolPage {
                layout: Layout::new(session, Some(caller)),
                error: Some(FormError::from(e)),
                qr_svg: qr_svg(&enrolment.otpauth_uri),
                secret: enrolment.secret,
                otpauth_uri: enrolment.otpauth_uri,
            };
            return Ok(pages::with_error_headers(render(e.status_code(), &page), e));
        }
    }
    match (audience, outcome) {
        (Audience::Api, Ok(codes)) => Ok(no_store(HttpResponse::Ok()).json(RecoveryCodes { recovery_codes: codes })),
        (Audience::Api, Err(e)) => Err(e),
        (Audience::Browser, Ok(codes)) => {
            let page = CodesPage { layout: Layout::new(session, Some(caller)), codes };
            let mut response = render(StatusCode::OK, &page);
            response.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        (Audience::Browser, Err(e)) => Ok(account_again(auth, session, caller, e, AccountForm::NewCodes).await),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = DisableTotpRequest)]
pub struct DisableBody {
    #[schema(schema_with = super::openapi::fields::password, required = true)]
    password: Option<String>,
    /// A code from the app (or a recovery code); one of `code` and `recovery_code` is required.
    #[schema(schema_with = super::openapi::fields::factor)]
    code: Option<String>,
    #[schema(schema_with = super::openapi::fields::factor)]
    recovery_code: Option<String>,
}

#[utoipa::path(delete, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = []), ("accessCookie" = [])), request_body(content((DisableBody = "application/json"), (DisableBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "TOTP and the recovery codes are gone; other sessions have ended"),
        (status = 303, description = "A form: TOTP is off; back to /account"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials, invalid_mfa_code, missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 404, description = "not_found: TOTP is off"),
        (status = 429, description = "rate_limited"),
    ))]
/// `DELETE /auth/mfa/totp` (and `POST /auth/mfa/totp/disable` from the page): the password
/// and a code, or a recovery code.
pub async fn disable_totp(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<DisableBody>,
) -> Result<HttpResponse, ApiError> {
    let body = input.body;
    let outcome = async {
        let mut check = Checker::default();
        let password = check.current_password("password", body.password);
        let factor = second_factor(&mut check, body.code, body.recovery_code);
        check.finish()?;
        auth.disable_totp(&caller, &vouched(password)?, vouched(factor)?, client).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match (audience, outcome) {
        (Audience::Api, Ok(())) => Ok(HttpResponse::NoContent().finish()),
        (Audience::Api, Err(e)) => Err(e),
        (Audience::Browser, Ok(())) => {
            pages::flash(&session, "Two-factor authentication is off. Other devices were signed out.");
            Ok(see_other("/account").finish())
        }
        (Audience::Browser, Err(e)) => Ok(account_again(&auth, &session, &caller, e, AccountForm::DisableTotp).await),
    }
}

/// `POST /auth/mfa/totp/disable`: the `/account` page's form twin of `DELETE /auth/mfa/totp`.
#[utoipa::path(post, path = "/auth/mfa/totp/disable", tag = "mfa", security(("bearer" = []), ("accessCookie" = [])), request_body(content((DisableBody = "application/json"), (DisableBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "TOTP is off (a JSON client)"),
        (status = 303, description = "A form: TOTP is off; back to /account"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials, invalid_mfa_code, missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 404, description = "not_found: TOTP is off"),
        (status = 429, description = "rate_limited"),
    ))]
pub async fn disable_totp_form(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<DisableBody>,
) -> Result<HttpResponse, ApiError> {
    disable_totp(auth, session, audience, caller, client, input).await
}

#[utoipa::path(get, path = "/auth/mfa", tag = "mfa", security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "TOTP, recovery codes left, passkeys", body = super::bodies::MfaStatusView),
        (status = 401, description = "missing_token, invalid_token, token_expired"),
    ))]
/// `GET /auth/mfa`: what protects the caller's account.
pub async fn status(auth: web::Data<AuthService>, caller: web::ReqData<Caller>) -> Result<HttpResponse, ApiError> {
    let MfaStatus { totp, recovery_codes_left, passkeys } = auth.mfa_status(&caller.user_id).await?;
    let passkeys: Vec<PasskeyView> = passkeys.into_iter().map(PasskeyView::from).collect();
    Ok(HttpResponse::Ok().json(super::bodies::MfaStatusView { totp, recovery_codes_left, passkeys }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = LoginMfaRequest)]
pub struct LoginMfaBody {
    /// From the `mfa_required` answer of `/auth/login`.
    #[schema(schema_with = super::openapi::fields::required_text, required = true)]
    mfa_token: Option<String>,
    /// A code from the app (or a recovery code); one of `code` and `recovery_code` is required.
    #[schema(schema_with = super::openapi::fields::factor)]
    code: Option<String>,
    #[schema(schema_with = super::openapi::fields::factor)]
    recovery_code: Option<String>,
}

#[utoipa::path(post, path = "/auth/login/mfa", tag = "auth", request_body(content((LoginMfaBody = "application/json"), (LoginMfaBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Signed in", body = super::bodies::TokenResponse),
        (status = 303, description = "A form: signed in (or the step expired: back to /login)"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_mfa_code, invalid_mfa_token (unknown, used or expired)"),
        (status = 403, description = "forbidden: a form without its CSRF token"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/login/mfa`: the second step of a sign-in (JSON, or the `/login/mfa` form).
pub async fn login_mfa(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    client: Requester,
    input: Input<LoginMfaBody>,
) -> Result<HttpResponse, ApiError> {
    let Input { body, kind, csrf_token, next } = input;
    let typed_token = body.mfa_token.clone().filter(|t| t.len() <= 64).unwrap_or_default();
    let outcome = async {
        csrf::verify_form(&session, kind, csrf_token.as_deref())?;
        let mut check = Checker::default();
        let token = check.required("mfa_token", body.mfa_token);
        let factor = second_factor(&mut check, body.code, body.recovery_code);
        check.finish()?;
        Ok::<_, ApiError>(auth.login_mfa(&vouched(token)?, vouched(factor)?, client).await?)
    }
    .await;
    form_or_json(
        audience,
        outcome,
        |issued| signed_in_redirect(&session, &auth, &issued, next.as_deref()),
        |e| {
            // A dead token cannot be retried: back to the password.
            if matches!(e, ApiError::InvalidMfaToken) {
                pages::flash(&session, &e.message());
                let next = super::redirect::next_for_page(next.as_deref());
                if next.is_empty() {
                    return see_other("/login").finish();
                }
                let query: String = url_encoded_next(&next);
                return see_other(&format!("/login?next={query}")).finish();
            }
            let page = CodeStepPage {
                layout: Layout::new(&session, None),
                error: Some(FormError::from(&e)),
                mfa_token: typed_token.clone(),
                next: super::redirect::next_for_page(next.as_deref()),
            };
            pages::with_error_headers(render(e.status_code(), &page), &e)
        },
        |issued| signed_in_json(&session, &auth, issued, StatusCode::OK),
    )
}

#[utoipa::path(get, path = "/login/mfa", tag = "pages",
    responses((status = 303, description = "The code step is reached by signing in: to /login")))]
/// `GET /login/mfa` without the step's token: back to the password form.
pub async fn code_step_page() -> HttpResponse {
    see_other("/login").finish()
}

/// The code step's page, after a correct password on the login form.
pub fn code_step(session: &Session, mfa_token: &str, next: Option<&str>) -> HttpResponse {
    let page = CodeStepPage {
        layout: Layout::new(session, None),
        error: None,
        mfa_token: mfa_token.to_string(),
        next: super::redirect::next_for_page(next),
    };
    let mut response = render(StatusCode::OK, &page);
    response
        .headers_mut()
        .insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    response
}

/// A code or a recovery code (a recovery code typed into `code` counts as one).
fn second_factor(check: &mut Checker, code: Option<String>, recovery_code: Option<String>) -> Option<SecondFactor> {
    let code = code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    let recovery_code = recovery_code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    match (code, recovery_code) {
        (_, Some(recovery)) => Some(SecondFactor::RecoveryCode(recovery)),
        (Some(code), None) if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) => {
            Some(SecondFactor::Code(code))
        }
        (Some(code), None) => Some(SecondFactor::RecoveryCode(code)),
        (None, None) => {
            check.required("code", None);
            None
        }
    }
}

pub async fn account_again(
    auth: &AuthService,
    session: &Session,
    caller: &Caller,
    error: ApiError,
    form: AccountForm,
) -> HttpResponse {
    match account_page(auth, session, caller, Some((&error, form))).await {
        Ok(response) => response,
        Err(page_error) => page_error.error_response(),
    }
}

fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    response
}

fn url_encoded_next(next: &str) -> String {
    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC).to_string()
}
