use std::io::Write;
use std::process::{Command, Stdio};

use crate::dual;
use crate::helpers::*;

/// Runs the real binary against a database, feeding `stdin`.
fn portcullis(database_url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("BCRYPT_COST", "4")
        .env("JWT_SECRET", "test-access-secret-0123456789abcdef0123")
        .env("JWT_REFRESH_SECRET", "test-refresh-secret-0123456789abcdef012")
        .env("RUST_LOG", "error")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

dual! {
    async fn create_user_reads_the_password_from_stdin_and_refuses_duplicates(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let url = app.database_url.clone();
        let (ok, stdout, stderr) = portcullis(&url, &["create-user", "--username", "root", "--email", "root@example.com", "--admin"], &format!("{PASSWORD}\n"));
        assert!(ok, "{stdout}{stderr}");
        let response = app.login(&app.api, "root").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["user"]["role"], "admin");
        let (ok, _, stderr) = portcullis(&url, &["create-user", "--username", "ROOT", "--email", "x@example.com"], &format!("{PASSWORD}\n"));
        assert!(!ok);
        assert!(stderr.contains("duplicate") && stderr.trim().lines().count() == 1, "{stderr}");
        let (ok, _, stderr) = portcullis(&url, &["create-user", "--username", "weak", "--email", "w@example.com"], "short\n");
        assert!(!ok && stderr.contains("weak password"), "{stderr}");
        let (ok, _, stderr) = portcullis(&url, &["create-user", "--username", "bad", "--email", "nope"], &format!("{PASSWORD}\n"));
        assert!(!ok && stderr.contains("email"), "{stderr}");
        let kinds = app.audit_kinds(body["user"]["id"].as_str().unwrap()).await;
        assert!(kinds.contains(&"user_created".to_string()), "{kinds:?}");
    }

    async fn logout_all_from_the_shell_ends_every_session(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        let (ok, stdout, stderr) = portcullis(&app.database_url, &["logout-all", "--username", "alice"], "");
        assert!(ok, "{stdout}{stderr}");
        assert!(stdout.contains("2 sessions"), "{stdout}");
        assert_error(app.refresh_with_body(&refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        tokio::time::sleep(portcullis::auth::revocation::MAX_STALENESS).await;
        assert_error(app.get_bearer("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let kinds = app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await;
        assert_eq!(kinds[0], "admin_logout_all");
        let (ok, _, stderr) = portcullis(&app.database_url, &["logout-all", "--username", "ghost"], "");
        assert!(!ok && stderr.contains("no user"), "{stderr}");
    }

    async fn purge_expired_deletes_dead_tokens_and_keeps_live_ones(db: Db) {
        use diesel::prelude::*;
        use portcullis::db::schema::{refresh_tokens, sessions};
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        // Age the signup session: it expired two days ago.
        let two_days_ago = portcullis::clock::now() - 2 * 86_400;
        app.query(move |conn| {
            diesel::update(refresh_tokens::table).set(refresh_tokens::expires_at.eq(two_days_ago)).execute(conn)?;
            diesel::update(sessions::table).set(sessions::expires_at.eq(two_days_ago)).execute(conn)
        })
        .await;
        let (_, live) = app.session("alice").await;
        let (ok, stdout, stderr) = portcullis(&app.database_url, &["purge-expired"], "");
        assert!(ok, "{stdout}{stderr}");
        assert!(stdout.contains("purged 1 refresh tokens, 1 sessions"), "{stdout}");
        assert_eq!(app.refresh_with_body(&live).await.status(), StatusCode::OK);
    }
}

#[test]
fn a_bad_setting_stops_the_binary_with_one_line_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("migrate")
        .env("JWT_EXPIRATION", "forever")
        .env("RUST_LOG", "error")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("JWT_EXPIRATION"), "{stderr}");
}
