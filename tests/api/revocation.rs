//! Revocation pushed to every instance: no database query per authenticated request, other
//! instances (and other processes) see revocations within a second, memory stays bounded, and
//! an instance keeps serving tokens through a database outage and catches up afterwards.
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::dual;
use crate::helpers::*;

/// Polls `/api/me` on `app` with `token` until it is refused; returns how long that took.
async fn until_refused(app: &TestApp, token: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if app.get_bearer("/api/me", token).await.status() == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn logout(app: &TestApp, refresh: &str) {
    let response = app.post_json(&app.api, "/auth/logout", json!({"refresh_token": refresh})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// A second server process on the same database (the binary, as an operator would run it).
struct Process {
    child: std::process::Child,
    address: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn second_process(app: &TestApp) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings = app.auth.settings();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("PORTCULLIS_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", "test-access-secret-0123456789abcdef0123")
        .env("JWT_REFRESH_SECRET", "test-refresh-secret-0123456789abcdef012")
        .env("JWT_LEEWAY", "0")
        .env("JWT_EXPIRATION", settings.jwt_expiration.to_string())
        .env("COOKIE_SECURE", "false")
        .env("BCRYPT_COST", "4")
        .env("MAIL_OUTBOX_DIR", settings.mail_outbox_dir.display().to_string())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    // Owned by the guard at once, so the process is killed and reaped whatever happens next.
    let process = Process { child, address: format!("http://127.0.0.1:{port}") };
    for _ in 0..200 {
        if reqwest::get(format!("{}/healthz", process.address)).await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the second process did not come up");
}

dual! {
    async fn every_revocation_reaches_another_instance_within_a_second(db: Db) {
        let Some(a) = spawn_app(db).await else { return };
        let b = spawn_on(a.database_url.clone(), DbGuard::Shared, &[]).await;
        a.signup(&a.api, "alice").await;
        let (admin, _) = a.admin_session("root").await;
        let alice = a.query(|conn| {
            use diesel::prelude::*;
            portcullis::db::schema::users::table
                .filter(portcullis::db::schema::users::username_key.eq("alice"))
                .select(portcullis::db::schema::users::id)
                .first::<String>(conn)
        }).await;
        let mut delays = Vec::new();
        // Logout (one session ends); PROPAGATION_SAMPLES=100 for the README's figures.
        let samples: usize = std::env::var("PROPAGATION_SAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
        for _ in 0..samples {
            let (access, refresh) = a.session("alice").await;
            assert_eq!(b.get_bearer("/api/me", &access).await.status(), StatusCode::OK);
            logout(&a, &refresh).await;
            assert_eq!(a.get_bearer("/api/me", &access).await.status(), StatusCode::UNAUTHORIZED, "at once where it happened");
            delays.push(until_refused(&b, &access, Duration::from_secs(1)).await);
        }
        // Logout everywhere (the token version moves on), and a role change.
        let (access, _) = a.session("alice").await;
        let response = a.api.post(a.url("/auth/logout-all")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        delays.push(until_refused(&b, &access, Duration::from_secs(1)).await);
        let (access, _) = a.session("alice").await;
        let response = a.api.patch(a.url(&format!("/api/admin/users/{alice}"))).bearer_auth(&admin).json(&json!({"role": "admin"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        delays.push(until_refused(&b, &access, Duration::from_secs(1)).await);
        // A token issued after the change is accepted everywhere.
        let (fresh, _) = a.session("alice").await;
        assert_eq!(b.get_bearer("/api/me", &fresh).await.status(), StatusCode::OK);
        delays.sort();
        eprintln!(
            "{db:?}: propagation over {} revocations: median {:?}, max {:?}",
            delays.len(),
            delays[delays.len() / 2],
            delays[delays.len() - 1]
        );
    }

    async fn a_role_changed_back_does_not_revive_old_tokens(db: Db) {
        let Some(a) = spawn_app(db).await else { return };
        let b = spawn_on(a.database_url.clone(), DbGuard::Shared, &[]).await;
        let alice = a.signup(&a.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        let (admin, _) = a.admin_session("root").await;
        let set_role = |role: &'static str| {
            let (url, admin) = (a.url(&format!("/api/admin/users/{alice}")), admin.clone());
            let api = a.api.clone();
            async move {
                let response = api.patch(url).bearer_auth(admin).json(&json!({"role": role})).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        };
        let (as_user, _) = a.session("alice").await;
        set_role("admin").await;
        until_refused(&b, &as_user, Duration::from_secs(1)).await;
        // A token signed on the other instance right after the change is accepted there at once,
        // even before that instance has read the change.
        let (as_admin, _) = b.session("alice").await;
        assert_eq!(b.get_bearer("/api/me", &as_admin).await.status(), StatusCode::OK);
        set_role("user").await;
        until_refused(&b, &as_admin, Duration::from_secs(1)).await;
        // Back to the first role: the first token carries it again, and stays refused everywhere.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for app in [&a, &b] {
            assert_eq!(app.get_bearer("/api/me", &as_user).await.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(app.get_bearer("/api/me", &as_admin).await.status(), StatusCode::UNAUTHORIZED);
        }
        let (fresh, _) = a.session("alice").await;
        assert_eq!(b.get_bearer("/api/me", &fresh).await.status(), StatusCode::OK);
    }

    async fn a_second_server_process_sees_revocations_within_a_second(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let other = second_process(&app).await;
        app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        let me = |token: String| {
            let url = format!("{}/api/me", other.address);
            async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status() }
        };
        assert_eq!(me(access.clone()).await, StatusCode::OK);
        logout(&app, &refresh).await;
        let started = Instant::now();
        while me(access.clone()).await != StatusCode::UNAUTHORIZED {
            assert!(started.elapsed() < Duration::from_secs(1), "the other process still accepts the token");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn authenticated_requests_make_no_database_checkout(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let logins = (0..300).map(|_| async { app.session("alice").await.0 });
        let tokens: Vec<String> = join_all(logins).await;
        let before = app.auth.pool().checkouts();
        // 1,500 requests across 300 sessions, each session's five requests far apart.
        for round in 0..5 {
            let requests = tokens.iter().map(|t| app.get_bearer("/api/me", t));
            for response in join_all(requests).await {
                assert_eq!(response.status(), StatusCode::OK, "round {round}");
            }
        }
        assert_eq!(app.auth.pool().checkouts() - before, 0, "an authenticated request touched the database");
    }

    async fn revocation_memory_is_bounded_by_unexpired_tokens(db: Db) {
        let Some(app) = spawn_app_with(db, &[("JWT_EXPIRATION", "1")]).await else { return };
        app.signup(&app.api, "alice").await;
        let baseline = app.auth.revocation_entries();
        for _ in 0..40 {
            let (_, refresh) = app.session("alice").await;
            logout(&app, &refresh).await;
        }
        assert!(app.auth.revocation_entries() >= baseline + 40);
        // No token of those sessions can be unexpired after JWT_EXPIRATION (+ leeway, + 1 s as
        // times are whole seconds): the entries leave at the next prune (every second), so at
        // most 4 s after the last logout.
        let last_logout = Instant::now();
        while app.auth.revocation_entries() > 0 {
            assert!(last_logout.elapsed() < Duration::from_millis(4500), "entries outlive every token");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// PostgreSQL through a proxy that the test switches off: the instance keeps accepting valid
/// tokens on its last known state, fails database routes fast, and catches up afterwards.
#[actix_web::test]
async fn an_instance_rides_out_a_database_outage_and_catches_up() {
    let Some((b, switch)) = spawn_app_with_switch(Db::Postgres, &[]).await else { return };
    let a = spawn_on(switch.direct_url.clone(), DbGuard::Shared, &[]).await;
    a.signup(&a.api, "alice").await;
    let (revoked, refresh) = a.session("alice").await;
    let (kept, _) = a.session("alice").await;
    // The cut-off instance has read the stream up to here (it reads within tens of ms).
    tokio::time::sleep(Duration::from_millis(200)).await;

    switch.down();
    let started = Instant::now();
    while b.api.get(b.url("/healthz")).send().await.unwrap().status() != StatusCode::SERVICE_UNAVAILABLE {
        assert!(started.elapsed() < Duration::from_secs(2), "/healthz never said unavailable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let login = b.login(&b.api, "alice").await;
    assert!(started.elapsed() < Duration::from_secs(1), "a database route took {:?}", started.elapsed());
    assert_error(login, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    for token in [&revoked, &kept] {
        assert_eq!(b.get_bearer("/api/me", token).await.status(), StatusCode::OK, "served on the last known state");
    }
    // What resource servers read stays up: keys, the server metadata and the status lists.
    let status_uri = jwt_parts(&kept).1["status"]["status_list"]["uri"].as_str().unwrap().to_string();
    let metadata: serde_json::Value =
        b.api.get(b.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["status_list_uris"], json!([status_uri]));
    assert_eq!(b.api.get(b.url("/.well-known/jwks.json")).send().await.unwrap().status(), StatusCode::OK);
    // Meanwhile another instance revokes a session; the cut-off one cannot know yet.
    logout(&a, &refresh).await;
    assert_eq!(b.get_bearer("/api/me", &revoked).await.status(), StatusCode::OK);

    switch.up();
    b.wait_until_healthy().await;
    until_refused(&b, &revoked, Duration::from_secs(1)).await;
    assert_eq!(b.get_bearer("/api/me", &kept).await.status(), StatusCode::OK);
    assert_eq!(b.login(&b.api, "alice").await.status(), StatusCode::OK);
}

/// PostgreSQL stops answering without refusing (a stalled network): database routes must not
/// hang on it, and tokens keep being served.
#[actix_web::test]
async fn a_database_that_stops_answering_does_not_hang_requests() {
    let Some((app, switch)) = spawn_app_with_switch(Db::Postgres, &[]).await else { return };
    app.signup(&app.api, "alice").await;
    let (token, _) = app.session("alice").await;
    switch.stall(true);
    let started = Instant::now();
    loop {
        let health = app.api.get(app.url("/healthz")).timeout(Duration::from_secs(2)).send().await;
        if health.is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(6), "/healthz never said unavailable");
    }
    let started = Instant::now();
    let login = app
        .api
        .post(app.url("/auth/login"))
        .timeout(Duration::from_secs(3))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("an answer, not a hang");
    assert!(started.elapsed() < Duration::from_secs(1), "a database route took {:?}", started.elapsed());
    assert_error(login, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(app.get_bearer("/api/me", &token).await.status(), StatusCode::OK);
    switch.stall(false);
    app.wait_until_healthy().await;
    assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK);
}

dual! {
    async fn a_starting_instance_knows_sessions_revoked_before_events_existed(db: Db) {
        let Some(a) = spawn_app(db).await else { return };
        a.signup(&a.api, "alice").await;
        let (token, refresh) = a.session("alice").await;
        logout(&a, &refresh).await;
        // As if the session had been revoked by a server from before the event stream.
        a.query(|conn| {
            use diesel::prelude::*;
            diesel::delete(portcullis::db::schema::revocation_events::table).execute(conn)
        })
        .await;
        let b = spawn_on(a.database_url.clone(), DbGuard::Shared, &[]).await;
        assert_eq!(b.get_bearer("/api/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    }
}
