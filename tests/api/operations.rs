//! Operations: Prometheus metrics on their own listener, request ids.
use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual! {
    async fn metrics_are_served_on_their_own_listener(db: Db) {
        let Some(app) = spawn_app_with(db, &[("METRICS_ADDR", "127.0.0.1:0")]).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::OK);
        let wrong = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": "a wrong password"})).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        // Invented methods share one label value: a client cannot create series without bound.
        let invented = reqwest::Method::from_bytes(b"FROBNICATE").unwrap();
        app.api.request(invented, app.url("/healthz")).send().await.unwrap();
        app.api.head(app.url("/healthz")).send().await.unwrap();
        let port = app.metrics_port.expect("a metrics listener");
        let scrape = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
        assert_eq!(scrape.status(), StatusCode::OK);
        assert!(scrape.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = scrape.text().await.unwrap();
        for expected in [
            r#"portcullis_http_requests_total{method="POST",route="/auth/login",status="200"}"#,
            r#"portcullis_http_requests_total{method="GET",route="/api/me",status="200"}"#,
            r#"portcullis_http_request_duration_seconds_bucket{method="GET",route="/api/me",le="0.005"}"#,
            r#"portcullis_auth_events_total{kind="login",outcome="success"}"#,
            r#"portcullis_auth_events_total{kind="login_failed",outcome="failure"}"#,
            "portcullis_revocation_state_entries ",
            "portcullis_revocation_feed_lag_seconds ",
            "portcullis_db_pool_connections_in_use ",
            "portcullis_db_pool_checkouts_total ",
            "portcullis_db_pool_wait_seconds_bucket",
            r#"portcullis_http_requests_total{method="other","#,
            r#"portcullis_http_requests_total{method="HEAD",route="/healthz",status="200"}"#,
            // Both limiters' refusal counters exist from the start.
            r#"portcullis_rate_limit_refusals_total{limiter="per_ip"}"#,
            r#"portcullis_rate_limit_refusals_total{limiter="account_throttle"}"#,
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        assert!(!text.contains("FROBNICATE"), "{text}");
        // Never on the public address.
        assert_eq!(app.api.get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }

    async fn throttled_and_rate_limited_answers_are_counted(db: Db) {
        let Some(app) = spawn_app_with(db, &[("METRICS_ADDR", "127.0.0.1:0")]).await else { return };
        app.signup(&app.api, "alice").await;
        for _ in 0..7 {
            app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": "a wrong password"})).await;
        }
        let port = app.metrics_port.unwrap();
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
        let refusals = text
            .lines()
            .find_map(|line| line.strip_prefix(r#"portcullis_rate_limit_refusals_total{limiter="account_throttle"} "#))
            .and_then(|value| value.parse::<u64>().ok());
        assert!(refusals.is_some_and(|n| n >= 1), "{text}");
    }

    async fn every_response_carries_a_request_id(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let first = app.api.get(app.url("/healthz")).send().await.unwrap();
        let second = app.api.get(app.url("/healthz")).send().await.unwrap();
        let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id(&first).len(), 22);
        assert_ne!(id(&first), id(&second));
        // A client that is not a trusted proxy cannot choose its id (it would forge log lines).
        let chosen = app.api.get(app.url("/healthz")).header("x-request-id", "chosen-by-client").send().await.unwrap();
        assert_ne!(id(&chosen), "chosen-by-client");
        let missing = app.api.get(app.url("/nope")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(missing.headers().contains_key("x-request-id"));
    }

    async fn a_bearer_client_posting_a_form_gets_json(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let response = app.api.post(app.url("/auth/mfa/totp")).bearer_auth(&access).form(&[("password", "")]).send().await.unwrap();
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn a_trusted_proxy_passes_its_request_id_through(db: Db) {
        let Some(app) = spawn_app_with(db, &[("TRUSTED_PROXIES", "127.0.0.1")]).await else { return };
        let echoed = app.api.get(app.url("/healthz")).header("x-request-id", "lb-1234.abc_DEF").send().await.unwrap();
        assert_eq!(echoed.headers()["x-request-id"], "lb-1234.abc_DEF");
        let odd = app.api.get(app.url("/healthz")).header("x-request-id", "has spaces\"and quotes").send().await.unwrap();
        assert_ne!(odd.headers()["x-request-id"], "has spaces\"and quotes", "only id-shaped values are kept");
    }
}

/// The route table behind `405`/`Allow` against the real router, both ways: every listed
/// route is served (never 404/405), every other method on its path is 405 with `Allow`.
#[actix_web::test]
async fn every_route_answers_its_methods_and_405_with_allow_for_the_rest() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let concrete = |template: &str| template.replace("{id}", "abcdefghijklmnopqrstuv").replace("{name}", "app.css");
    for (method, template) in portcullis::routes::methods::all_routes() {
        let path = concrete(template);
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.api.request(method.clone(), app.url(&path)).send().await.unwrap();
        assert!(
            ![StatusCode::METHOD_NOT_ALLOWED].contains(&response.status()),
            "{method} {path} is listed but answered {}",
            response.status()
        );
        // HEAD, which `Allow` lists beside every GET, answers as the GET does, without a body.
        if method == reqwest::Method::GET {
            let head = app.api.head(app.url(&path)).send().await.unwrap();
            assert_eq!(head.status(), response.status(), "HEAD {path}");
            assert_eq!(head.headers().get("content-type"), response.headers().get("content-type"), "HEAD {path}");
            assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has a body");
        }
        let allowed = portcullis::routes::methods::allowed(&path);
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS"] {
            if allowed.contains(&other) {
                continue;
            }
            let response = app
                .api
                .request(reqwest::Method::from_bytes(other.as_bytes()).unwrap(), app.url(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{other} {path}");
            assert_eq!(response.headers()["allow"], allowed.join(", ").as_str(), "{other} {path}");
        }
    }
    // A route the router serves but the table forgot would be answered by its handler, not 404:
    // probe every documented JSON operation the same way.
    for (method, path) in portcullis::routes::openapi::documented() {
        let listed = portcullis::routes::methods::all_routes().any(|(m, p)| m == method && p == path);
        assert!(listed, "{method} {path} is documented but not in the route table");
    }
    let body: serde_json::Value =
        app.api.request(reqwest::Method::TRACE, app.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[actix_web::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    for path in ["/healthz", "/openapi.json"] {
        let get = app.api.get(app.url(path)).send().await.unwrap();
        let head = app.api.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        for name in ["content-type", "cache-control"] {
            assert_eq!(head.headers().get(name), get.headers().get(name), "HEAD {path}: {name}");
        }
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has a body");
    }
    // HEAD of a path that takes no GET is still a 405.
    let refused = app.api.head(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.headers()["allow"], "POST");
}
