use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual! {
    async fn malformed_json_is_an_invalid_request(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        for path in ["/auth/signup", "/auth/login", "/auth/refresh", "/auth/logout"] {
            let response = app.api.post(app.url(path)).header("content-type", "application/json").body("{\"username\": ").send().await.unwrap();
            assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
    }

    async fn a_field_of_the_wrong_type_is_an_invalid_request(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.post_json(&app.api, "/auth/login", json!({"username": 42, "password": ["x"]})).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        let response = app.post_json(&app.api, "/auth/refresh", json!({"refresh_token": {"a": 1}})).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn a_body_that_is_neither_json_nor_a_form_is_unsupported(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        for content_type in ["text/plain", "application/xml", "multipart/form-data; boundary=x"] {
            let response = app.api.post(app.url("/auth/login")).header("content-type", content_type).body("username=a").send().await.unwrap();
            assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
        }
        let no_type = app.api.post(app.url("/auth/signup")).body("{}").send().await.unwrap();
        assert_error(no_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }

    async fn an_oversized_body_is_refused_before_it_is_read(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let huge = json!({"username": "a".repeat(10_000), "password": PASSWORD});
        let response = app.post_json(&app.api, "/auth/login", huge).await;
        assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        // Chunked, without a Content-Length to trust.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
        let response = app
            .api
            .post(app.url("/auth/signup"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }

    async fn an_empty_body_is_an_invalid_request_naming_the_fields(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.post(app.url("/auth/login")).send().await.unwrap();
        let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(body["fields"]["username"].is_string() && body["fields"]["password"].is_string());
    }

    async fn garbage_and_oversized_tokens_get_4xx_never_5xx(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let garbage = ["", "x", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", &"A".repeat(5000), "Bearer Bearer"];
        for token in garbage {
            let response = app.api.get(app.url("/api/me")).header("authorization", format!("Bearer {token}")).send().await.unwrap();
            assert!(response.status().is_client_error(), "{token:?} -> {}", response.status());
            let response = app.post_json(&app.api, "/auth/refresh", json!({"refresh_token": token})).await;
            assert!(response.status().is_client_error(), "{token:?} -> {}", response.status());
        }
        let response = app.post_json(&app.api, "/auth/refresh", json!({"refresh_token": "ünïcödé"})).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    async fn unknown_paths_answer_a_json_404(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.get(app.url("/no/such/thing")).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

dual! {
    async fn nul_and_control_characters_are_client_errors_on_every_backend(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin, _) = app.admin_session("root").await;
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "a\u{0}b", "password": "whatever pass"})).await;
        assert_error(login, StatusCode::BAD_REQUEST, "invalid_request").await;
        let oauth = app.api.post(app.url("/oauth/token")).form(&[("grant_type", "password"), ("username", "a\u{0}"), ("password", "x")]).send().await.unwrap();
        assert_eq!(oauth.status(), StatusCode::BAD_REQUEST);
        for path in ["/auth/sessions/%00", "/auth/sessions/a%0Ab"] {
            let response = app.api.delete(app.url(path)).bearer_auth(&admin).send().await.unwrap();
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        for path in ["/api/admin/users/%00/sessions", "/api/admin/users/x%00y/logout-all"] {
            let response = app.api.request(if path.ends_with("sessions") { reqwest::Method::GET } else { reqwest::Method::POST }, app.url(path)).bearer_auth(&admin).send().await.unwrap();
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        assert_error(app.get_bearer("/api/admin/users?q=%00", &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        // An admin's browser asking for a malformed user page gets an HTML 404.
        let csrf = app.page_csrf("/login").await;
        app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "root"), ("password", PASSWORD)]).await;
        let page = app.browser.get(app.url("/admin/users/%00")).header("accept", "text/html").send().await.unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert!(page.text().await.unwrap().contains("404"));
        assert_error(app.get_bearer("/api/admin/audit?user_id=%00", &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}
