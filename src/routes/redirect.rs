//! Where a form may send the browser afterwards: local paths only.
use actix_web::http::header;
use actix_web::HttpResponse;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub const DEFAULT_TARGET: &str = "/dashboard";
/// What stays literal in a `next` query value: RFC 3986 unreserved characters and `/`.
const NEXT_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const MAX_TARGET_LEN: usize = 512;

/// `next` if it is a plain local path, else the dashboard. Refuses `//host`, `/\host`,
/// schemes, control characters and the same tricks percent-encoded (once or several times).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(target) if is_local_path(target) => target.to_string(),
        _ => DEFAULT_TARGET.to_string(),
    }
}

/// The `next` a page may carry in a hidden field or link: a safe local path, or nothing (so
/// the page itself, and its script, never hold a target that leaves the site).
pub fn next_for_page(next: Option<&str>) -> String {
    next.filter(|target| is_local_path(target)).unwrap_or_default().to_string()
}

fn is_local_path(target: &str) -> bool {
    if target.len() > MAX_TARGET_LEN {
        return false;
    }
    let mut current = target.to_string();
    // Check the text as given and every decoding of it, so no layer of encoding hides a host.
    for _ in 0..4 {
        if !looks_local(&current) {
            return false;
        }
        // Invalid UTF-8 after decoding is no path of ours.
        match percent_decode_str(&current).decode_utf8() {
            Ok(decoded) if decoded == current => return true,
            Ok(decoded) => current = decoded.into_owned(),
            Err(_) => return false,
        }
    }
    false
}

fn looks_local(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/') | Some(b'\\'))
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_string()));
    response
}

/// `/login?next=<path>` for a page that needs a signed-in user.
pub fn login_with_next(path_and_query: &str) -> String {
    format!("/login?next={}", utf8_percent_encode(path_and_query, NEXT_VALUE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_pass_and_everything_else_falls_back() {
        for good in ["/dashboard", "/admin/users?q=a&page=2", "/a%20b"] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example".trim_start_matches('/'),
            "%2F%2Fevil.example",
            "/%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "javascript:alert(1)",
            "/\tdashboard",
            "",
            "dashboard",
        ] {
            assert_eq!(safe_next(Some(bad)), DEFAULT_TARGET, "{bad:?} must fall back");
        }
    }
}
