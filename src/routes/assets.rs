//! The stylesheet and page script, embedded in the binary and served under versioned URLs.
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

fn version(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `/static/app.<hash>.css`: the content hash in the name makes a year of caching safe.
pub fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/static/app.{}.css", version(CSS)))
}

pub fn js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/static/app.{}.js", version(JS)))
}

#[utoipa::path(get, path = "/static/{name}", tag = "pages",
    params(("name" = String, Path, description = "A versioned asset name, as the pages link it")),
    responses(
        (status = 200, description = "The stylesheet or the page script", content((String = "text/css"), (String = "text/javascript"))),
        (status = 404, description = "not_found"),
    ))]
pub async fn serve(path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    let (body, content_type) = if format!("/static/{name}") == css_url() {
        (CSS, "text/css; charset=utf-8")
    } else if format!("/static/{name}") == js_url() {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return actix_web::ResponseError::error_response(&crate::error::ApiError::NotFound);
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body)
}
