use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

fn concrete(path: &str) -> String {
    path.replace("{id}", "someid")
}

dual! {
    async fn every_admin_route_refuses_anyone_but_an_admin(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (user_token, _) = app.session("alice").await;
        assert!(portcullis::routes::ADMIN_API_ROUTES.len() >= 6);
        for (method, path) in portcullis::routes::ADMIN_API_ROUTES {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = app.url(&concrete(path));
            let anonymous = app.api.request(method.clone(), &url).json(&json!({"role": "admin"})).send().await.unwrap();
            assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
            let as_user = app.api.request(method, &url).bearer_auth(&user_token).json(&json!({"role": "admin"})).send().await.unwrap();
            assert_error(as_user, StatusCode::FORBIDDEN, "forbidden").await;
        }
        // The pages, with the user's browser cookies and a valid CSRF token.
        app.form_signup("bob").await;
        let csrf = app.page_csrf("/dashboard").await;
        assert!(portcullis::routes::ADMIN_PAGE_ROUTES.len() >= 7);
        for (method, path) in portcullis::routes::ADMIN_PAGE_ROUTES {
            let url = app.url(&concrete(path));
            let response = if *method == "get" {
                app.browser.get(&url).header("accept", "text/html").send().await.unwrap()
            } else {
                app.browser.post(&url).form(&[("csrf_token", csrf.as_str()), ("role", "admin")]).send().await.unwrap()
            };
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
            assert!(response.text().await.unwrap().contains("403"), "{method} {path} shows an HTML 403 page");
        }
        let me: Value = app.get_bearer("/api/me", &user_token).await.json().await.unwrap();
        assert_eq!(me["role"], "user", "nothing above promoted anyone");
    }

    async fn an_unknown_path_in_the_admin_scopes_is_a_404_for_everyone(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin_token, _) = app.admin_session("root").await;
        for path in ["/admin/anything", "/api/admin/anything", "/admin/users/someid/nothing"] {
            let anonymous = app.api.get(app.url(path)).header("accept", "text/html").send().await.unwrap();
            assert_eq!(anonymous.status(), StatusCode::NOT_FOUND, "anonymous GET {path}");
            let anonymous = app.api.get(app.url(path)).send().await.unwrap();
            assert_error(anonymous, StatusCode::NOT_FOUND, "not_found").await;
            let admin = app.api.get(app.url(path)).bearer_auth(&admin_token).send().await.unwrap();
            assert_error(admin, StatusCode::NOT_FOUND, "not_found").await;
        }
        // A known path still asks who is calling first.
        let known = app.api.get(app.url("/admin/audit")).header("accept", "text/html").send().await.unwrap();
        assert_eq!(known.status(), StatusCode::SEE_OTHER);
    }

    async fn a_forced_logout_all_kills_every_session_and_is_audited_with_the_admin_as_actor(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin_token, _) = app.admin_session("root").await;
        let signup = app.signup(&app.api, "alice").await;
        let alice_id = signup["user"]["id"].as_str().unwrap().to_string();
        let sessions = [app.session("alice").await, app.session("alice").await];
        let response = app.api.post(app.url(&format!("/api/admin/users/{alice_id}/logout-all"))).bearer_auth(&admin_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        for (access, refresh) in &sessions {
            assert_error(app.refresh_with_body(refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
            assert_error(app.get_bearer("/api/me", access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        }
        let listed: Vec<Value> = app.get_bearer(&format!("/api/admin/users/{alice_id}/sessions"), &admin_token).await.json().await.unwrap();
        assert!(listed.is_empty());
        let (_, admin_claims) = jwt_parts(&admin_token);
        let audit: Vec<Value> = app
            .get_bearer(&format!("/api/admin/audit?user_id={alice_id}&kind=admin_logout_all"), &admin_token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0]["actor"], format!("admin:{}", admin_claims["sub"].as_str().unwrap()));
        assert_eq!(audit[0]["ip"], "127.0.0.1");
        assert_eq!(audit[0]["detail"], "sessions_ended=3");
        for key in ["id", "at", "kind", "user_id", "ip", "user_agent", "detail"] {
            assert!(audit[0].get(key).is_some(), "{key}");
        }
        // Unknown users are 404.
        let response = app.api.post(app.url("/api/admin/users/nobody/logout-all")).bearer_auth(&admin_token).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }

    async fn an_admin_can_end_one_session_of_anyone(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin_token, _) = app.admin_session("root").await;
        app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        let (_, claims) = jwt_parts(&access);
        let url = app.url(&format!("/api/admin/sessions/{}", claims["sid"].as_str().unwrap()));
        let response = app.api.delete(&url).bearer_auth(&admin_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_error(app.refresh_with_body(&refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        let again = app.api.delete(&url).bearer_auth(&admin_token).send().await.unwrap();
        assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
    }

    async fn the_last_admin_cannot_lose_the_role(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (root_token, _) = app.admin_session("root").await;
        let (_, root) = jwt_parts(&root_token);
        let root_url = app.url(&format!("/api/admin/users/{}", root["sub"].as_str().unwrap()));
        let response = app.api.patch(&root_url).bearer_auth(&root_token).json(&json!({"role": "user"})).send().await.unwrap();
        let body = assert_error(response, StatusCode::CONFLICT, "conflict").await;
        assert!(body["fields"]["role"].is_string());
        let response = app.api.patch(&root_url).bearer_auth(&root_token).json(&json!({"role": "superuser"})).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        // With a second admin, the first can step down; then the second is the last.
        let (second_token, _) = app.admin_session("second").await;
        let (_, second) = jwt_parts(&second_token);
        let response = app.api.patch(&root_url).bearer_auth(&second_token).json(&json!({"role": "user"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap()["role"], "user");
        let second_url = app.url(&format!("/api/admin/users/{}", second["sub"].as_str().unwrap()));
        let response = app.api.patch(&second_url).bearer_auth(&second_token).json(&json!({"role": "user"})).send().await.unwrap();
        assert_error(response, StatusCode::CONFLICT, "conflict").await;
    }

    async fn two_admins_demoting_each_other_at_once_leave_one_admin(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (a_token, _) = app.admin_session("admin-a").await;
        let (b_token, _) = app.admin_session("admin-b").await;
        let id = |t: &str| jwt_parts(t).1["sub"].as_str().unwrap().to_string();
        let demote = |by: String, target: String| {
            let (client, url) = (client(false), app.url(&format!("/api/admin/users/{target}")));
            async move { client.patch(url).bearer_auth(by).json(&json!({"role": "user"})).send().await.unwrap().status() }
        };
        let (first, second) = futures::join!(demote(a_token.clone(), id(&b_token)), demote(b_token.clone(), id(&a_token)));
        let statuses = [first, second];
        assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
        let admins = app
            .query(portcullis::db::users::count_admins)
            .await;
        assert_eq!(admins, 1, "{statuses:?}");
    }

    async fn a_demoted_admin_loses_admin_access_at_once(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (root_token, _) = app.admin_session("root").await;
        let (demoted_token, demoted_refresh) = app.admin_session("deputy").await;
        assert_eq!(app.get_bearer("/api/admin/users", &demoted_token).await.status(), StatusCode::OK);
        let deputy_id = jwt_parts(&demoted_token).1["sub"].as_str().unwrap().to_string();
        let response = app
            .api
            .patch(app.url(&format!("/api/admin/users/{deputy_id}")))
            .bearer_auth(&root_token)
            .json(&json!({"role": "user"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_error(app.get_bearer("/api/admin/users", &demoted_token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        // A refreshed token carries the new role.
        let refreshed: Value = app.refresh_with_body(&demoted_refresh).await.json().await.unwrap();
        let token = refreshed["access_token"].as_str().unwrap();
        assert_eq!(jwt_parts(token).1["role"], "user");
        assert_error(app.get_bearer("/api/admin/users", token).await, StatusCode::FORBIDDEN, "forbidden").await;
    }

    async fn users_are_paged_and_searched_by_prefix(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin_token, _) = app.admin_session("root").await;
        for i in 0..12 {
            app.signup(&app.api, &format!("pager{i:02}")).await;
        }
        app.signup(&app.api, "other").await;
        let page = |q: &str, page: u32| {
            let path = format!("/api/admin/users?q={q}&page={page}&per_page=5");
            let (app, token) = (&app, admin_token.clone());
            async move { app.get_bearer(&path, &token).await }
        };
        let first = page("pager", 1).await;
        assert_eq!(first.headers()["x-total-count"], "12");
        let first: Vec<Value> = first.json().await.unwrap();
        let third: Vec<Value> = page("pager", 3).await.json().await.unwrap();
        assert_eq!((first.len(), third.len()), (5, 2));
        assert_eq!(first[0]["username"], "pager00");
        assert_eq!(third[1]["username"], "pager11");
        let by_email: Vec<Value> = page("OTHER%40", 1).await.json().await.unwrap();
        assert_eq!(by_email.len(), 1, "prefix of the email, any case");
        let wildcard: Vec<Value> = page("%25", 1).await.json().await.unwrap();
        assert!(wildcard.is_empty(), "% is matched literally");
        let everyone = app.get_bearer("/api/admin/users", &admin_token).await;
        assert_eq!(everyone.headers()["x-total-count"], "14");
        let response = app.get_bearer("/api/admin/users?page=x", &admin_token).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn the_audit_log_is_newest_first_filterable_and_paged(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin_token, _) = app.admin_session("root").await;
        let signup = app.signup(&app.api, "alice").await;
        let alice = signup["user"]["id"].as_str().unwrap();
        app.session("alice").await;
        app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": "wrong password"})).await;
        let events: Vec<Value> = app.get_bearer(&format!("/api/admin/audit?user_id={alice}"), &admin_token).await.json().await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["login_failed", "login", "signup"]);
        let logins: Vec<Value> = app.get_bearer("/api/admin/audit?kind=login", &admin_token).await.json().await.unwrap();
        assert!(logins.iter().all(|e| e["kind"] == "login") && logins.len() == 2, "root and alice signed in");
        let paged: Vec<Value> = app.get_bearer(&format!("/api/admin/audit?user_id={alice}&per_page=1&page=2"), &admin_token).await.json().await.unwrap();
        assert_eq!(paged.len(), 1);
        assert_eq!(paged[0]["kind"], "login");
        let response = app.get_bearer("/api/admin/audit?kind=bogus", &admin_token).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn the_admin_pages_force_a_user_out_after_a_confirmation(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let password = format!("{PASSWORD}\n");
        portcullis::cli::create_user(&app.auth, "root", "root@example.com", true, password.as_bytes()).await.unwrap();
        let signup = app.signup(&app.api, "alice").await;
        let alice = signup["user"]["id"].as_str().unwrap();
        let (_, alice_refresh) = app.session("alice").await;
        let csrf = app.page_csrf("/login").await;
        let login = app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "root"), ("password", PASSWORD), ("next", "/admin")]).await;
        assert_eq!(login.headers()["location"], "/admin");
        let users = app.browser.get(app.url("/admin?q=ali")).send().await.unwrap().text().await.unwrap();
        assert!(users.contains(&format!("/admin/users/{alice}")) && !users.contains("root@example.com"));
        let user_page = app.browser.get(app.url(&format!("/admin/users/{alice}"))).send().await.unwrap().text().await.unwrap();
        assert!(user_page.contains("Live sessions (2)"));
        let confirm = app.browser.get(app.url(&format!("/admin/users/{alice}/logout-all"))).send().await.unwrap().text().await.unwrap();
        assert!(confirm.contains("Log alice out everywhere?"));
        let csrf = meta_csrf(&confirm);
        let done = app.post_form(&format!("/admin/users/{alice}/logout-all"), &[("csrf_token", &csrf)]).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        assert_error(app.refresh_with_body(&alice_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        let audit = app.browser.get(app.url("/admin/audit?kind=admin_logout_all")).send().await.unwrap().text().await.unwrap();
        assert!(audit.contains(alice) && audit.contains("admin:"));
        // Without the CSRF token, nothing happens.
        let refused = app.post_form(&format!("/admin/users/{alice}/role"), &[("role", "admin")]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
}

dual! {
    async fn absurd_page_numbers_are_refused_not_overflowed(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin, _) = app.admin_session("root").await;
        for path in ["/api/admin/users?page=9223372036854775807", "/api/admin/audit?page=9223372036854775807", "/api/admin/users?page=0", "/api/admin/users?page=-5"] {
            assert_error(app.get_bearer(path, &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        // per_page is refused outside 1..100, never clamped silently.
        for path in ["/api/admin/users?per_page=101", "/api/admin/audit?per_page=0", "/api/admin/users?per_page=-5"] {
            let body = assert_error(app.get_bearer(path, &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
            assert_eq!(body["fields"]["per_page"], "must be from 1 to 100", "{path}");
        }
        // A number too large for any type is a sentence, not the parser's words.
        let body = assert_error(app.get_bearer("/api/admin/users?page=99999999999999999999", &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(!body["error_description"].as_str().unwrap().contains("deserialize"), "{body}");
        assert_eq!(app.get_bearer("/api/admin/users?page=1000000", &admin).await.status(), StatusCode::OK);
        // The pages answer with an HTML 400, not a panic.
        let csrf = app.page_csrf("/login").await;
        app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "root"), ("password", PASSWORD)]).await;
        for path in ["/admin?page=9223372036854775807", "/admin/audit?page=9223372036854775807"] {
            let page = app.browser.get(app.url(path)).header("accept", "text/html").send().await.unwrap();
            assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{path}");
            assert!(page.text().await.unwrap().contains("page must be from 1"), "{path}");
        }
    }
}

dual! {
    async fn malformed_queries_and_forms_on_admin_pages_answer_pages(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.admin_session("root").await;
        let csrf = app.page_csrf("/login").await;
        app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "root"), ("password", PASSWORD)]).await;
        let page = app.browser.get(app.url("/admin?page=x")).header("accept", "text/html").send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        // The same query from an API client is the contract's JSON.
        let (admin, _) = app.session("root").await;
        assert_error(app.get_bearer("/api/admin/users?page=x", &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}
