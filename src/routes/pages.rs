//! Server-rendered pages: sign-in, sign-up, the dashboard and error pages.
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::bodies::{SessionView, User};
use super::{assets, csrf};
use crate::auth::{AuthService, Caller};
use crate::error::ApiError;

const FLASH_KEY: &str = "flash";

/// What every page's layout needs.
pub struct Layout {
    pub csrf: String,
    pub css_url: &'static str,
    pub js_url: &'static str,
    pub signed_in: Option<String>,
    pub is_admin: bool,
    pub flash: Option<String>,
    /// The clock reading every time on the page is told against.
    pub now: i64,
}

impl Layout {
    pub fn new(session: &Session, caller: Option<&Caller>) -> Self {
        Layout {
            csrf: csrf::token(session),
            css_url: assets::css_url(),
            js_url: assets::js_url(),
            signed_in: caller.map(|c| c.username.clone()),
            is_admin: caller.is_some_and(Caller::is_admin),
            flash: session.remove_as::<String>(FLASH_KEY).and_then(Result::ok),
            now: crate::clock::now(),
        }
    }

    /// An RFC 3339 time (as the JSON bodies carry it) for people: `<time datetime=…>5 minutes
    /// ago</time>`, the exact value in its `datetime` and `title`. Use with `|safe`: both parts
    /// are produced here from the parsed time, never copied from the input.
    pub fn when(&self, rfc3339: &str) -> String {
        use time::format_description::well_known::Rfc3339;
        let Ok(at) = time::OffsetDateTime::parse(rfc3339, &Rfc3339) else { return String::new() };
        let moment = crate::clock::Moment::at(at.unix_timestamp(), self.now);
        format!(r#"<time datetime="{0}" title="{0}">{1}</time>"#, moment.iso, moment.text)
    }
}

/// A form's error: the sentence above the form (`#form-error`, a live alert) and the fields it is
/// about, which point at it (`aria-describedby`), are marked invalid, and take the focus.
#[derive(Debug, Clone)]
pub struct FormError {
    message: String,
    fields: Vec<&'static str>,
}

impl From<&ApiError> for FormError {
    fn from(error: &ApiError) -> Self {
        let fields = match error {
            ApiError::InvalidCredentials => vec!["password", "current_password"],
            ApiError::InvalidMfaCode => vec!["code", "recovery_code"],
            other => other.field_names(),
        };
        FormError { message: error.message(), fields }
    }
}

impl From<ApiError> for FormError {
    fn from(error: ApiError) -> Self {
        FormError::from(&error)
    }
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl FormError {
    /// The attributes of input `name` (use with `|safe`): tied to the error when it is about
    /// this field, and focused when it is the first such field of the form (`first_of_form`
    /// names it) or, for an error about no field, when it is the form's first input.
    pub fn attrs<'a>(&self, name: &str, first_of_form: impl AsRef<[&'a str]>) -> &'static str {
        let first_of_form = first_of_form.as_ref();
        let about = self.fields.contains(&name);
        let first_error = first_of_form.iter().find(|field| self.fields.contains(field));
        let focused = match first_error {
            Some(first) => *first == name,
            None => first_of_form.first() == Some(&name),
        };
        match (about, focused) {
            (true, true) => r#" aria-invalid="true" aria-describedby="form-error" autofocus"#,
            (true, false) => r#" aria-invalid="true" aria-describedby="form-error""#,
            (false, true) => " autofocus",
            (false, false) => "",
        }
    }
}

/// A message for the next page this browser renders.
pub fn flash(session: &Session, message: &str) {
    let _ = session.insert(FLASH_KEY, message);
}

/// Renders a template into an HTML response with the given status.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("internal error")
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub error: Option<FormError>,
    pub username: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub layout: Layout,
    pub error: Option<FormError>,
    pub username: String,
    pub email: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    user: User,
    sessions: Vec<SessionView>,
    revoke_prefix: &'static str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: &'a Layout,
    status: u16,
    title: &'static str,
    message: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// A local path to go to after signing in.
    next: Option<String>,
}

#[utoipa::path(get, path = "/login", tag = "pages", params(NextQuery),
    responses(
        (status = 200, description = "The sign-in form", content_type = "text/html", body = String),
    ))]
pub async fn login_form(session: Session, query: web::Query<NextQuery>) -> HttpResponse {
    let next = super::redirect::next_for_page(query.into_inner().next.as_deref());
    render(
        StatusCode::OK,
        &LoginPage { layout: Layout::new(&session, None), error: None, username: String::new(), next },
    )
}

#[utoipa::path(get, path = "/signup", tag = "pages", params(NextQuery),
    responses(
        (status = 200, description = "The sign-up form", content_type = "text/html", body = String),
    ))]
pub async fn signup_form(session: Session, query: web::Query<NextQuery>) -> HttpResponse {
    let next = super::redirect::next_for_page(query.into_inner().next.as_deref());
    let page = SignupPage {
        layout: Layout::new(&session, None),
        error: None,
        username: String::new(),
        email: String::new(),
        next,
    };
    render(StatusCode::OK, &page)
}

#[utoipa::path(get, path = "/", tag = "pages",
    responses((status = 303, description = "To the dashboard, or to /login")))]
pub async fn home(req: HttpRequest) -> HttpResponse {
    let signed_in = req.cookie(super::cookies::REFRESH_COOKIE).is_some();
    super::redirect::see_other(if signed_in { "/dashboard" } else { "/login" }).finish()
}

#[utoipa::path(get, path = "/dashboard", tag = "pages", security(("accessCookie" = []), ()),
    responses(
        (status = 200, description = "The dashboard: the user and their sessions", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to /login?next=…"),
    ))]
pub async fn dashboard(
    auth: web::Data<AuthService>,
    session: Session,
    caller: web::ReqData<Caller>,
) -> Result<HttpResponse, ApiError> {
    let user = auth.user(&caller.user_id).await?;
    let sessions = auth.live_sessions(&caller.user_id).await?;
    let page = DashboardPage {
        layout: Layout::new(&session, Some(&caller)),
        user: user.into(),
        sessions: sessions.into_iter().map(|s| SessionView::new(s, &caller.session_id)).collect(),
        revoke_prefix: "/auth/sessions",
    };
    Ok(render(StatusCode::OK, &page))
}

/// Renders `error.html` for an error (see `respond::PageError`), with the headers the error
/// owes its client (a 429's `Retry-After` and `RateLimit-*`).
pub(super) fn render_error(layout: &Layout, error: &ApiError, message: Option<&str>) -> HttpResponse {
    use actix_web::ResponseError;
    let status = error.status_code();
    let (title, stock) = match status.as_u16() {
        401 => ("Sign-in required", "Please sign in to continue.".to_string()),
        403 => ("Forbidden", "You are not allowed to do that.".to_string()),
        404 => ("Not found", "There is nothing at this address.".to_string()),
        429 => ("Too many requests", "Too many attempts. Please wait a moment and try again.".to_string()),
        400..=499 => ("Request refused", error.message()),
        503 => (
            "Temporarily unavailable",
            "The service is temporarily unavailable; nothing was changed. Please try again in a moment.".to_string(),
        ),
        _ => ("Something went wrong", "The server could not complete the request. Please try again.".to_string()),
    };
    let message = message.map(str::to_string).unwrap_or(stock);
    let page = ErrorPage { layout, status: status.as_u16(), title, message };
    with_error_headers(render(status, &page), error)
}

/// The headers an error owes its client, on an HTML answer too.
pub fn with_error_headers(mut response: HttpResponse, error: &ApiError) -> HttpResponse {
    if let ApiError::RateLimited { retry_after_secs } = error {
        for (name, value) in crate::error::rate_limit_headers(*retry_after_secs, None) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
