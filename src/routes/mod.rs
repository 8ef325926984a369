//! Thin handlers grouped by surface, and the route table.
pub mod account;
pub mod admin;
pub mod admin_pages;
pub mod assets;
pub mod auth;
pub mod bodies;
pub mod cookies;
pub mod csrf;
pub mod extract;
pub mod guard;
pub mod health;
pub mod limits;
pub mod methods;
pub mod mfa;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod passkeys;
pub mod redirect;
pub mod respond;
pub mod status;
pub mod validate;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;

/// Every route of the application. Protected resources are wrapped one by one so that public
/// and protected endpoints can share the `/auth` prefix.
pub fn configure(limiter: limits::AuthLimiter) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| routes(cfg, limiter)
}

fn routes(cfg: &mut web::ServiceConfig, limiter: limits::AuthLimiter) {
    let limited = || actix_governor::Governor::new(&limiter);
    let access = || from_fn(guard::require_access);
    let page = || from_fn(guard::require_page_access);
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/.well-known/jwks.json", web::get().to(health::jwks))
        .route("/openapi.json", web::get().to(openapi::openapi))
        .route("/.well-known/oauth-authorization-server", web::get().to(status::metadata))
        .route("/statuslists/{id}", web::get().to(status::status_list))
        .route("/static/{name}", web::get().to(assets::serve))
        .route("/", web::get().to(pages::home))
        .route("/login", web::get().to(pages::login_form))
        .route("/signup", web::get().to(pages::signup_form))
        .service(web::resource("/dashboard").wrap(page()).route(web::get().to(pages::dashboard)))
        .service(web::resource("/account").wrap(page()).route(web::get().to(mfa::account)))
        .service(
            web::resource("/account/delete")
                .wrap(page())
                .route(web::get().to(account::delete_page))
                .route(web::post().to(account::delete_account_form)),
        )
        .route("/login/mfa", web::get().to(mfa::code_step_page))
        .route("/forgot", web::get().to(account::forgot_page))
        .route("/reset", web::get().to(account::reset_page))
        .service(web::resource("/oauth/token").wrap(limited()).route(web::post().to(oauth::token)))
        .service(web::resource("/auth/password/forgot").wrap(limited()).route(web::post().to(account::forgot)))
        .service(web::resource("/auth/password/reset").wrap(limited()).route(web::post().to(account::reset)))
        .service(
            web::resource("/auth/password")
                .wrap(access())
                .wrap(limited())
                .route(web::post().to(account::change_password)),
        )
        .service(
            web::resource("/auth/account")
                .wrap(access())
                .wrap(limited())
                .route(web::delete().to(account::delete_account)),
        )
        .service(web::resource("/auth/signup").wrap(limited()).route(web::post().to(auth::signup)))
        .service(web::resource("/auth/login").wrap(limited()).route(web::post().to(auth::login)))
        .service(web::resource("/auth/login/mfa").wrap(limited()).route(web::post().to(mfa::login_mfa)))
        .service(web::resource("/auth/mfa").wrap(access()).route(web::get().to(mfa::status)))
        .service(
            web::resource("/auth/mfa/totp")
                .wrap(access())
                .wrap(limited())
                .route(web::post().to(mfa::start_totp))
                .route(web::delete().to(mfa::disable_totp)),
        )
        .service(web::resource("/auth/mfa/totp/confirm").wrap(access()).route(web::post().to(mfa::confirm_totp)))
        .service(
            web::resource("/auth/mfa/totp/disable")
                .wrap(access())
                .wrap(limited())
                .route(web::post().to(mfa::disable_totp_form)),
        )
        .service(
            web::resource("/auth/mfa/recovery-codes")
                .wrap(access())
                .wrap(limited())
                .route(web::post().to(mfa::regenerate_codes)),
        )
        .service(
            web::resource("/auth/passkeys/register/start")
                .wrap(access())
                .route(web::post().to(passkeys::register_start)),
        )
        .service(
            web::resource("/auth/passkeys/register/finish")
                .wrap(access())
                .route(web::post().to(passkeys::register_finish)),
        )
        .service(
            web::resource("/auth/passkeys/login/start").wrap(limited()).route(web::post().to(passkeys::login_start)),
        )
        .service(
            web::resource("/auth/passkeys/login/finish").wrap(limited()).route(web::post().to(passkeys::login_finish)),
        )
        .service(web::resource("/auth/passkeys/{id}").wrap(access()).route(web::delete().to(passkeys::remove)))
        .service(
            web::resource("/auth/passkeys/{id}/delete").wrap(access()).route(web::post().to(passkeys::remove_form)),
        )
        .service(web::resource("/auth/refresh").wrap(limited()).route(web::post().to(auth::refresh)))
        .route("/auth/logout", web::post().to(auth::logout))
        .route("/auth/csrf", web::get().to(auth::csrf_token))
        .service(web::resource("/auth/logout-all").wrap(access()).route(web::post().to(auth::logout_all)))
        .service(web::resource("/auth/sessions").wrap(access()).route(web::get().to(auth::list_sessions)))
        .service(web::resource("/auth/sessions/{id}").wrap(access()).route(web::delete().to(auth::revoke_session)))
        .service(
            web::resource("/auth/sessions/{id}/revoke").wrap(access()).route(web::post().to(auth::revoke_session_form)),
        )
        .service(web::resource("/api/me").wrap(access()).route(web::get().to(auth::me)))
        .service(
            web::scope("/api/admin")
                .wrap(from_fn(guard::require_admin))
                .wrap(from_fn(guard::require_access))
                .configure(admin_api_routes),
        )
        .service(
            web::scope("/admin")
                .wrap(from_fn(guard::require_admin))
                .wrap(from_fn(guard::require_page_access))
                .configure(admin_page_routes),
        )
        .default_service(web::to(not_found));
}

/// Declares a scope's routes once: the router is built from the list, and the list is public
/// so a test can check every admin route refuses non-admins (a new route cannot be forgotten).
macro_rules! routes {
    ($list:ident, $configure:ident, $prefix:literal: $($method:ident $path:literal => $handler:path),* $(,)?) => {
        pub const $list: &[(&str, &str)] = &[$((stringify!($method), concat!($prefix, $path))),*];

        fn $configure(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

routes!(ADMIN_API_ROUTES, admin_api_routes, "/api/admin":
    get "/users" => admin::list_users,
    patch "/users/{id}" => admin::update_user,
    get "/users/{id}/sessions" => admin::user_sessions,
    post "/users/{id}/logout-all" => admin::logout_all,
    delete "/sessions/{id}" => admin::revoke_session,
    get "/audit" => admin::audit,
    delete "/users/{id}/mfa" => admin::reset_mfa,
);

routes!(ADMIN_PAGE_ROUTES, admin_page_routes, "/admin":
    get "" => admin_pages::users,
    get "/users/{id}" => admin_pages::user,
    get "/users/{id}/logout-all" => admin_pages::confirm_logout_all,
    post "/users/{id}/logout-all" => admin_pages::logout_all,
    post "/users/{id}/role" => admin_pages::change_role,
    post "/sessions/{id}/revoke" => admin_pages::revoke_session,
    get "/users/{id}/mfa/reset" => admin_pages::confirm_reset_mfa,
    post "/users/{id}/mfa/reset" => admin_pages::reset_mfa,
    get "/audit" => admin_pages::audit,
);

async fn not_found(req: HttpRequest) -> HttpResponse {
    refusal(&req, ApiError::NotFound)
}

/// An error before any handler ran (no route, a malformed path, query or form): an HTML page
/// for browsers, the contract's JSON for everyone else.
pub fn refusal(req: &HttpRequest, error: ApiError) -> HttpResponse {
    use actix_session::SessionExt;
    if respond::Audience::of(req).is_browser() {
        respond::error_page(&req.get_session(), None, error)
    } else {
        error.error_response()
    }
}
