//! Abuse resistance: per-IP limits, the per-account throttle, weak passwords, quiet logs.
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

async fn login_from(app: &TestApp, forwarded_for: Option<&str>, username: &str) -> reqwest::Response {
    let mut request =
        app.api.post(app.url("/auth/login")).json(&json!({"username": username, "password": "wrong password"}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

fn assert_rate_limit_headers(response: &reqwest::Response) {
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    for header in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
        assert!(response.headers().contains_key(header), "{header} missing");
    }
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
}

const STRICT: &[(&str, &str)] = &[("AUTH_RATE_LIMIT_BURST", "3"), ("AUTH_RATE_LIMIT_REPLENISH_SECS", "60")];

dual! {
    async fn the_credential_endpoints_share_a_per_ip_limit(db: Db) {
        let Some(app) = spawn_app_with(db, STRICT).await else { return };
        for _ in 0..3 {
            assert_eq!(login_from(&app, None, "nobody").await.status(), StatusCode::UNAUTHORIZED);
        }
        let limited = login_from(&app, None, "nobody").await;
        assert_rate_limit_headers(&limited);
        assert_eq!(limited.headers()["ratelimit-limit"], "3");
        assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // Signup and refresh draw from the same bucket.
        let signup = app.post_json(&app.api, "/auth/signup", json!({"username": "x"})).await;
        assert_error(signup, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        let refresh = app.refresh_with_body(&"A".repeat(43)).await;
        assert_error(refresh, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        let oauth = app.api.post(app.url("/oauth/token")).form(&[("grant_type", "password")]).send().await.unwrap();
        assert_error(oauth, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        for path in ["/auth/password/forgot", "/auth/password/reset"] {
            let response = app.post_json(&app.api, path, json!({})).await;
            assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        }
        // A browser gets a page, with the same headers.
        let page = app.browser.post(app.url("/auth/login")).header("accept", "text/html").form(&[("username", "x")]).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_rate_limit_headers(&page);
        assert!(page.text().await.unwrap().contains("Too many requests"));
        // Other routes are not limited.
        assert_eq!(app.api.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    }

    async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit(db: Db) {
        let Some(app) = spawn_app_with(db, STRICT).await else { return };
        for i in 0..3 {
            let response = login_from(&app, Some(&format!("203.0.113.{i}")), "nobody").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let response = login_from(&app, Some("198.51.100.77"), "nobody").await;
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }

    async fn a_trusted_proxys_forwarded_for_is_honoured(db: Db) {
        let trusted = [STRICT, &[("TRUSTED_PROXIES", "127.0.0.1, ::1")]].concat();
        let Some(app) = spawn_app_with(db, &trusted).await else { return };
        // Each client behind the proxy has its own bucket...
        for i in 0..5 {
            let response = login_from(&app, Some(&format!("203.0.113.{i}")), "nobody").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "client {i}");
        }
        // ...the right-most untrusted hop is the client, whatever it put in front...
        for spoof in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
            let chain = format!("{spoof}, 198.51.100.9");
            assert_eq!(login_from(&app, Some(&chain), "nobody").await.status(), StatusCode::UNAUTHORIZED);
        }
        let response = login_from(&app, Some("4.4.4.4, 198.51.100.9"), "nobody").await;
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // ...and sessions record that address.
        app.signup(&client(false), "alice").await;
        let signed_in = app.api.post(app.url("/auth/login")).header("x-forwarded-for", "192.0.2.44")
            .json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap();
        let token = signed_in.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        let sessions: Vec<Value> = app.get_bearer("/auth/sessions", &token).await.json().await.unwrap();
        assert!(sessions.iter().any(|s| s["ip"] == "192.0.2.44"), "{sessions:?}");
    }

    async fn repeated_failures_slow_an_account_down_and_a_success_resets_it(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let alice = signup["user"]["id"].as_str().unwrap();
        for _ in 0..5 {
            assert_eq!(login_from(&app, None, "alice").await.status(), StatusCode::UNAUTHORIZED);
        }
        // The sixth attempt must wait, even with the right password, and costs no bcrypt.
        let throttled = app.login(&app.api, "alice").await;
        let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "first delay is 2 s, got {wait}");
        assert_error(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        tokio::time::sleep(Duration::from_millis(wait * 1000 + 1100)).await;
        // After the wait one more attempt is allowed; failing again doubles the wait.
        assert_eq!(login_from(&app, None, "alice").await.status(), StatusCode::UNAUTHORIZED);
        let throttled = login_from(&app, None, "alice").await;
        let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((3..=4).contains(&wait), "second delay is 4 s, got {wait}");
        tokio::time::sleep(Duration::from_millis(wait * 1000 + 1100)).await;
        // Not a lock: the owner gets in, and the count starts over.
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK);
        for _ in 0..5 {
            assert_eq!(login_from(&app, None, "alice").await.status(), StatusCode::UNAUTHORIZED);
        }
        let kinds = app.audit_kinds(alice).await;
        assert!(kinds.iter().filter(|k| *k == "rate_limited").count() >= 2, "{kinds:?}");
        assert!(kinds.iter().filter(|k| *k == "login_failed").count() >= 11, "{kinds:?}");
    }

    async fn parallel_guesses_cannot_share_the_free_attempts(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let guesses = (0..30).map(|_| login_from(&app, None, "alice"));
        let statuses: Vec<StatusCode> = futures::future::join_all(guesses).await.iter().map(|r| r.status()).collect();
        let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
        assert!(checked <= 5, "{checked} passwords were checked: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
        // Refused attempts write nothing: the audit log holds the failures and the throttle step.
        let kinds = app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await;
        assert!(kinds.len() <= checked + 2, "{kinds:?}");
    }

    async fn common_passwords_are_refused(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        for password in ["password123", "qwertyuiop", "alice2024"] {
            let response = app
                .post_json(&app.api, "/auth/signup", json!({"username": "alice", "email": "alice@example.com", "password": password}))
                .await;
            let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
            assert!(body["fields"]["password"].as_str().unwrap().contains("common"), "{body}");
        }
    }
}

#[actix_web::test]
async fn no_log_line_at_any_level_carries_a_password_a_token_or_a_secret() {
    secrets_stay_out_of_the_log("text").await;
}

#[actix_web::test]
async fn no_json_log_line_carries_a_secret_and_each_names_its_request() {
    secrets_stay_out_of_the_log("json").await;
}

/// Starts the real binary with `RUST_LOG=trace` and `LOG_FORMAT=format`, drives a full session
/// (second factor included) through it, and checks everything it printed.
async fn secrets_stay_out_of_the_log(format: &str) {
    let (url, _guard) = fresh_database(Db::Sqlite).unwrap();
    let (access_secret, refresh_secret) =
        ("log-test-access-secret-0123456789abcdef", "log-test-refresh-secret-0123456789abcdef");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env_clear()
        .env("PORTCULLIS_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", access_secret)
        .env("JWT_REFRESH_SECRET", refresh_secret)
        .env("BCRYPT_COST", "4")
        .env("COOKIE_SECURE", "false")
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", format)
        .env("AUTH_RATE_LIMIT_BURST", "1000")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained while the server runs: at trace level it writes more than a pipe holds, and a full
    // pipe would stop it mid-request.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).to_string()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let base = format!("http://127.0.0.1:{port}");
    let api = client(false);
    for _ in 0..100 {
        if api.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let password = "a secret passphrase nobody logs";
    let signup: Value = api
        .post(format!("{base}/auth/signup"))
        .json(&json!({"username": "quiet", "email": "quiet@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let login = api
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "quiet", "password": password}))
        .send()
        .await
        .unwrap();
    let refresh_token = set_cookie(&login, "refresh_token").unwrap();
    let refreshed: Value = api
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wrong = api
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "quiet", "password": "another secret guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let access = refreshed["access_token"].as_str().unwrap();
    api.get(format!("{base}/api/me?token={access}")).bearer_auth(access).send().await.unwrap();
    // A second factor: the TOTP secret, a code, the recovery codes and the mfa_token.
    let enrolment: Value = api
        .post(format!("{base}/auth/mfa/totp"))
        .bearer_auth(access)
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp_secret = enrolment["secret"].as_str().unwrap().to_string();
    let secret_bytes = totp_rs::Secret::Encoded(totp_secret.clone()).to_bytes().unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let code = portcullis::auth::totp::code_at(&secret_bytes, now());
    let confirmed: Value = api
        .post(format!("{base}/auth/mfa/totp/confirm"))
        .bearer_auth(access)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recovery_codes: Vec<String> =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    let step: Value = api
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "quiet", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mfa_token = step["mfa_token"].as_str().unwrap().to_string();
    let completed = api
        .post(format!("{base}/auth/login/mfa"))
        .json(&json!({"mfa_token": mfa_token, "recovery_code": recovery_codes[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::OK);
    let _ = child.kill();
    let _ = child.wait();
    let mut log = stdout.join().unwrap();
    log.push_str(&stderr.join().unwrap());
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "the log level really was trace");
    assert!(log.lines().count() > 10);
    let secrets = [
        password,
        "another secret guess",
        access_secret,
        refresh_secret,
        signup["access_token"].as_str().unwrap(),
        &refresh_token,
        refreshed["refresh_token"].as_str().unwrap(),
        access,
        &totp_secret,
        &mfa_token,
        &recovery_codes[0],
        &recovery_codes[1],
    ];
    // A pipe is not a terminal: no colour codes, whatever the format.
    assert!(!log.contains('\x1b'), "ANSI escapes in a log written to a pipe");
    for line in BufReader::new(log.as_bytes()).lines() {
        let line = line.unwrap();
        for secret in secrets {
            assert!(!line.contains(secret), "a secret leaked into the log: {line}");
        }
    }
    if format == "json" {
        let requests: Vec<Value> = log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["message"] == "request")
            .collect();
        assert!(requests.len() >= 5, "request lines are JSON objects");
        assert!(requests.iter().all(|event| event["target"] == "portcullis::logging"), "{requests:?}");
        assert!(
            requests.iter().all(|event| event["span"]["request_id"].as_str().is_some_and(|id| id.len() == 22)),
            "{requests:?}"
        );
    }
}

#[test]
fn production_refuses_to_start_with_generated_secrets() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env_clear()
        .env("PORTCULLIS_ENV", "production")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET") && stderr.trim().lines().count() == 1, "{stderr}");
}
