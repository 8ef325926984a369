//! Account self-service: `/auth/password*`, `/auth/account`, and the `/account`, `/forgot`,
//! `/reset` pages.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;
use serde::Deserialize;

use super::extract::Input;
use super::pages::{self, render, FormError, Layout};
use super::redirect::see_other;
use super::respond::{form_or_json, Audience};
use super::validate::{vouched, Checker};
use super::{cookies, csrf};
use crate::audit::Requester;
use crate::auth::{AuthService, Caller};
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "account_delete.html")]
struct DeletePage {
    layout: Layout,
    error: Option<FormError>,
    username: String,
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    layout: Layout,
    error: Option<FormError>,
    email: String,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    layout: Layout,
    error: Option<FormError>,
    token: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = ChangePasswordRequest)]
pub struct ChangePasswordBody {
    #[schema(schema_with = super::openapi::fields::password, required = true)]
    current_password: Option<String>,
    #[schema(schema_with = super::openapi::fields::new_password, required = true)]
    new_password: Option<String>,
}

#[utoipa::path(post, path = "/auth/password", tag = "account", security(("bearer" = []), ("accessCookie" = [])), request_body(content((ChangePasswordBody = "application/json"), (ChangePasswordBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Changed; every other session has ended"),
        (status = 303, description = "A form: changed; back to /account"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials (the current password is wrong), missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 422, description = "weak_password"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/password`: the current password is required; other sessions end.
pub async fn change_password(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<ChangePasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let body = input.body;
    let outcome = async {
        let mut check = Checker::default();
        let current = check.current_password("current_password", body.current_password);
        let new = check.new_password("new_password", body.new_password, &[&caller.username]);
        check.finish()?;
        Ok::<_, ApiError>(auth.change_password(&caller, &vouched(current)?, vouched(new)?, client).await?)
    }
    .await;
    match (audience, outcome) {
        (Audience::Api, Ok(_)) => Ok(HttpResponse::NoContent().finish()),
        (Audience::Api, Err(e)) => Err(e),
        (Audience::Browser, Ok(ended)) => {
            pages::flash(&session, &format!("Your password has been changed; {ended} other session(s) ended."));
            Ok(see_other("/account").finish())
        }
        (Audience::Browser, Err(e)) => {
            Ok(super::mfa::account_again(&auth, &session, &caller, e, super::mfa::AccountForm::Password).await)
        }
    }
}

#[utoipa::path(get, path = "/forgot", tag = "pages",
    responses(
        (status = 200, description = "The forgotten-password form", content_type = "text/html", body = String),
    ))]
pub async fn forgot_page(session: Session) -> HttpResponse {
    render(StatusCode::OK, &ForgotPage { layout: Layout::new(&session, None), error: None, email: String::new() })
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = ForgotRequest)]
pub struct ForgotBody {
    #[schema(schema_with = super::openapi::fields::email, required = true)]
    email: Option<String>,
}

#[utoipa::path(post, path = "/auth/password/forgot", tag = "account", request_body(content((ForgotBody = "application/json"), (ForgotBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 202, description = "The same answer whether or not the account exists", body = super::bodies::Accepted),
        (status = 303, description = "A form: on to /login with the same message"),
        (status = 400, description = "invalid_request"),
        (status = 403, description = "forbidden: a form without its CSRF token"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/password/forgot`: the same answer, at once, whether or not the account exists;
/// the lookup and the mail happen after the response.
pub async fn forgot(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    client: Requester,
    input: Input<ForgotBody>,
) -> Result<HttpResponse, ApiError> {
    let Input { body, kind, csrf_token, .. } = input;
    let typed = body.email.clone().unwrap_or_default();
    let outcome = async {
        csrf::verify_form(&session, kind, csrf_token.as_deref())?;
        let mut check = Checker::default();
        let email = check.email(body.email);
        check.finish()?;
        vouched(email)
    }
    .await;
    let email = match (audience, outcome) {
        (_, Ok(email)) => email,
        (Audience::Browser, Err(e)) => {
            let page =
                ForgotPage { layout: Layout::new(&session, None), error: Some(FormError::from(&e)), email: typed };
            return Ok(render(e.status_code(), &page));
        }
        (Audience::Api, Err(e)) => return Err(e),
    };
    let auth = auth.into_inner();
    let key = email.key().to_string();
    actix_web::rt::spawn(async move {
        if let Err(e) = auth.request_password_reset(key, client).await {
            tracing::error!(error = ?anyhow::Error::from(e), "password reset request failed");
        }
    });
    let message = "If an account uses that address, a reset link is on its way. It is valid for 30 minutes.";
    if audience.is_browser() {
        pages::flash(&session, message);
        return Ok(see_other("/login").finish());
    }
    Ok(HttpResponse::Accepted().json(super::bodies::Accepted { status: "accepted", message }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResetQuery {
    /// The token from the reset mail.
    token: Option<String>,
}

#[utoipa::path(get, path = "/reset", tag = "pages", params(ResetQuery),
    responses(
        (status = 200, description = "The new-password form", content_type = "text/html", body = String),
    ))]
pub async fn reset_page(session: Session, query: web::Query<ResetQuery>) -> HttpResponse {
    let token = query.into_inner().token.filter(|t| t.len() <= 64).unwrap_or_default();
    render(StatusCode::OK, &ResetPage { layout: Layout::new(&session, None), error: None, token })
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = ResetRequest)]
pub struct ResetBody {
    /// The token from the reset mail.
    #[schema(schema_with = super::openapi::fields::required_text, required = true)]
    token: Option<String>,
    #[schema(schema_with = super::openapi::fields::new_password, required = true)]
    new_password: Option<String>,
}

#[utoipa::path(post, path = "/auth/password/reset", tag = "account", request_body(content((ResetBody = "application/json"), (ResetBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "The password is set; every session has ended"),
        (status = 303, description = "A form: on to /login"),
        (status = 400, description = "invalid_request, invalid_reset_token (unknown, used or expired)"),
        (status = 403, description = "forbidden: a form without its CSRF token"),
        (status = 422, description = "weak_password"),
        (status = 429, description = "rate_limited"),
    ))]
/// `POST /auth/password/reset`: a single-use token sets a new password and ends every session.
pub async fn reset(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    client: Requester,
    input: Input<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let Input { body, kind, csrf_token, .. } = input;
    let typed_token = body.token.clone().unwrap_or_default();
    let outcome = async {
        csrf::verify_form(&session, kind, csrf_token.as_deref())?;
        let mut check = Checker::default();
        let token = check.required("token", body.token);
        let new = check.new_password("new_password", body.new_password, &[]);
        check.finish()?;
        auth.reset_password(&vouched(token)?, vouched(new)?, client).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    form_or_json(
        audience,
        outcome,
        |()| {
            pages::flash(&session, "Your password has been reset. Sign in with the new one.");
            let mut response = see_other("/login");
            cookies::clear(&mut response, auth.settings());
            response.finish()
        },
        |e| {
            let page =
                ResetPage { layout: Layout::new(&session, None), error: Some(FormError::from(&e)), token: typed_token };
            render(e.status_code(), &page)
        },
        |()| HttpResponse::NoContent().finish(),
    )
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = DeleteAccountRequest)]
pub struct DeleteBody {
    #[schema(schema_with = super::openapi::fields::password, required = true)]
    password: Option<String>,
}

#[utoipa::path(delete, path = "/auth/account", tag = "account", security(("bearer" = []), ("accessCookie" = [])), request_body(content((DeleteBody = "application/json"), (DeleteBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "The account, its sessions and tokens are gone"),
        (status = 303, description = "A form: deleted; on to /login"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials (wrong password), missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 409, description = "conflict: the last administrator cannot delete their account"),
        (status = 429, description = "rate_limited"),
    ))]
/// `DELETE /auth/account` (JSON) and `POST /account/delete` (the confirmation page's form):
/// with the password, the user, sessions and tokens go together.
pub async fn delete_account(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<DeleteBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = match super::mfa::required_password(input.body.password) {
        Ok(password) => auth.delete_account(&caller, &password, client).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    form_or_json(
        audience,
        outcome,
        |()| {
            session.clear();
            session.renew();
            pages::flash(&session, "Your account has been deleted.");
            let mut response = see_other("/login");
            cookies::clear(&mut response, auth.settings());
            response.finish()
        },
        |e| {
            let page = DeletePage {
                layout: Layout::new(&session, Some(&caller)),
                error: Some(FormError::from(&e)),
                username: caller.username.clone(),
            };
            render(e.status_code(), &page)
        },
        |()| {
            let mut response = HttpResponse::NoContent();
            cookies::clear(&mut response, auth.settings());
            response.finish()
        },
    )
}

/// `POST /account/delete`: the confirmation page's form.
#[utoipa::path(post, path = "/account/delete", tag = "pages", security(("accessCookie" = []), ()),
    request_body(content((DeleteBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Deleted (a JSON client)"),
        (status = 303, description = "A form: deleted; on to /login"),
        (status = 400, description = "invalid_request"),
        (status = 401, description = "invalid_credentials (wrong password), missing_token, invalid_token, token_expired"),
        (status = 403, description = "forbidden: a cookie-borne request or form without the CSRF token"),
        (status = 409, description = "conflict: the last administrator cannot delete their account"),
        (status = 429, description = "rate_limited"),
    ))]
pub async fn delete_account_form(
    auth: web::Data<AuthService>,
    session: Session,
    audience: Audience,
    caller: web::ReqData<Caller>,
    client: Requester,
    input: Input<DeleteBody>,
) -> Result<HttpResponse, ApiError> {
    delete_account(auth, session, audience, caller, client, input).await
}

#[utoipa::path(get, path = "/account/delete", tag = "pages", security(("accessCookie" = []), ()),
    responses(
        (status = 200, description = "The account deletion confirmation", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to /login?next=…"),
    ))]
/// The confirmation step of account deletion on the page.
pub async fn delete_page(session: Session, caller: web::ReqData<Caller>) -> HttpResponse {
    let page =
        DeletePage { layout: Layout::new(&session, Some(&caller)), error: None, username: caller.username.clone() };
    render(StatusCode::OK, &page)
}
