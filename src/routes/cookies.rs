//! The two token cookies: set on sign-in and refresh, cleared on logout.
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::HttpResponseBuilder;

use crate::auth::Issued;
use crate::config::Settings;

pub const ACCESS_COOKIE: &str = "access_token";
pub const REFRESH_COOKIE: &str = "refresh_token";
/// The signed device cookie of a client that signed in before (see `auth::devices`); logout
/// keeps it, since it only ever relaxes the throttle for this client's own attempts.
pub const DEVICE_COOKIE: &str = "device";

/// The refresh cookie is `SameSite=Strict`: no other site can make a browser send it.
/// The access cookie is `Lax`, so a link from mail or another site opens a page signed in;
/// every state change still needs the CSRF token, and the access token cannot mint new ones.
fn cookie(
    settings: &Settings,
    name: &'static str,
    value: String,
    max_age: i64,
    same_site: SameSite,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(settings.cookie_secure)
        .same_site(same_site)
        .max_age(Duration::seconds(max_age))
        .finish()
}

pub fn set_access(response: &mut HttpResponseBuilder, settings: &Settings, issued: &Issued) {
    response.cookie(cookie(settings, ACCESS_COOKIE, issued.access_token.clone(), issued.expires_in, SameSite::Lax));
}

pub fn set_refresh(response: &mut HttpResponseBuilder, settings: &Settings, issued: &Issued) {
    let max_age = (issued.refresh_expires_at - issued.issued_at).max(0);
    response.cookie(cookie(settings, REFRESH_COOKIE, issued.refresh_token.clone(), max_age, SameSite::Strict));
}

/// The token cookies, and the device cookie after a sign-in.
pub fn set_both(response: &mut HttpResponseBuilder, settings: &Settings, issued: &Issued) {
    set_access(response, settings, issued);
    set_refresh(response, settings, issued);
    if let Some(device) = &issued.device_cookie {
        let max_age = crate::auth::devices::DEVICE_TTL_SECS;
        response.cookie(cookie(settings, DEVICE_COOKIE, device.clone(), max_age, SameSite::Strict));
    }
}

/// The device cookie a request carries, if any.
pub fn device_of(req: &actix_web::HttpRequest) -> Option<String> {
    req.cookie(DEVICE_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

pub fn clear(response: &mut HttpResponseBuilder, settings: &Settings) {
    response.cookie(cookie(settings, ACCESS_COOKIE, String::new(), 0, SameSite::Lax));
    response.cookie(cookie(settings, REFRESH_COOKIE, String::new(), 0, SameSite::Strict));
}
