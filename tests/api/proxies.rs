//! Client addresses behind a trusted proxy, and what the per-IP limits key on.
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

/// A proxy on 127.0.0.1 that is trusted; two credential requests per address, then 429.
const BEHIND_PROXY: &[(&str, &str)] =
    &[("TRUSTED_PROXIES", "127.0.0.1"), ("AUTH_RATE_LIMIT_BURST", "2"), ("AUTH_RATE_LIMIT_REPLENISH_SECS", "3600")];

/// A sign-in attempt for an unknown user with the given `X-Forwarded-For` lines, in order.
async fn attempt(app: &TestApp, lines: &[&str]) -> StatusCode {
    let mut request =
        app.api.post(app.url("/auth/login")).json(&json!({"username": "nobody", "password": "whatever it is"}));
    for line in lines {
        request = request.header("x-forwarded-for", *line);
    }
    request.send().await.unwrap().status()
}

dual! {
    async fn every_forwarded_for_line_is_read_in_order(db: Db) {
        let Some(app) = spawn_app_with(db, BEHIND_PROXY).await else { return };
        // The client forges a first line; the proxy appends the address it saw on a second one.
        assert_eq!(attempt(&app, &["6.6.6.1", "203.0.113.7"]).await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(&app, &["6.6.6.2", "203.0.113.7"]).await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(&app, &["6.6.6.3", "203.0.113.7"]).await, StatusCode::TOO_MANY_REQUESTS, "forged lines do not buy fresh buckets");
        assert_eq!(attempt(&app, &["203.0.113.7", "198.51.100.9"]).await, StatusCode::UNAUTHORIZED, "another client");

        // Sessions and audit record the address the proxy saw, not the forged one.
        app.signup(&app.api, "alice").await;
        let login = app.api.post(app.url("/auth/login")).header("x-forwarded-for", "6.6.6.6").header("x-forwarded-for", "192.0.2.44")
            .json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(login.status(), StatusCode::OK);
        let access = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        let sessions: Value = app.get_bearer("/auth/sessions", &access).await.json().await.unwrap();
        let ips: Vec<&str> = sessions.as_array().unwrap().iter().map(|s| s["ip"].as_str().unwrap()).collect();
        assert!(ips.contains(&"192.0.2.44"), "session ips {ips:?}");
        assert!(!ips.contains(&"6.6.6.6"));
    }

    async fn ipv6_clients_are_limited_per_64_prefix(db: Db) {
        let Some(app) = spawn_app_with(db, BEHIND_PROXY).await else { return };
        assert_eq!(attempt(&app, &["2001:db8:1:2::1"]).await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(&app, &["2001:db8:1:2::2"]).await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(&app, &["2001:db8:1:2:ffff:ffff:ffff:3"]).await, StatusCode::TOO_MANY_REQUESTS, "same /64");
        assert_eq!(attempt(&app, &["2001:db8:1:3::1"]).await, StatusCode::UNAUTHORIZED, "another /64");
        // IPv4 stays per address.
        assert_eq!(attempt(&app, &["192.0.2.1"]).await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(&app, &["192.0.2.2"]).await, StatusCode::UNAUTHORIZED);
    }
}
