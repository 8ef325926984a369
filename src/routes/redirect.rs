//! Where a form may send the browser afterwards: local paths only.
use actix_web::http::header;
use actix_web::HttpResponse;

pub const DEFAULT_TARGET: &str = "/dashboard";
const MAX_TARGET_LEN: usize = 512;

/// `next` if it is a plain local path, else the dashboard. Refuses `//host`, `/\host`,
/// schemes, control characters and the same tricks percent-encoded (once or several times).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(target) if is_local_path(target) => target.to_string(),
        _ => DEFAULT_TARGET.to_string(),
    }
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
        match percent_decode(&current) {
            Some(decoded) if decoded == current => return true,
            Some(decoded) => current = decoded,
            None => return false,
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

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_string()));
    response
}

/// `/login?next=<path>` for a page that needs a signed-in user.
pub fn login_with_next(path_and_query: &str) -> String {
    let encoded: String = path_and_query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/login?next={encoded}")
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
