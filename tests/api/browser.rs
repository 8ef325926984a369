//! The browser suite (tests/browser/flows.mjs) in a real headless Chromium, against a real
//! server on each backend. Skipped loudly where Node, Chromium or the npm packages are missing
//! (never under CI=true, where scripts/install-deps.sh and `npm ci` provide them).
use std::path::Path;
use std::process::Command;

use crate::dual;
use crate::helpers::*;

const ACCESS_TTL_SECONDS: &str = "3";

fn browser_suite_available() -> Result<(), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        return Err("tests/browser/node_modules is missing (run `npm ci` in tests/browser)".into());
    }
    if !Path::new("/usr/bin/chromium").exists() && std::env::var_os("CHROMIUM").is_none() {
        return Err("Chromium is missing (bash scripts/install-deps.sh installs it)".into());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is missing".into());
    }
    Ok(())
}

dual! {
    async fn the_browser_flows_pass_in_headless_chromium(db: Db) {
        if let Err(why) = browser_suite_available() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but the browser suite cannot run: {why}");
            }
            eprintln!("\n!!!!!!!!!! BROWSER TESTS SKIPPED: {why} !!!!!!!!!!\n");
            return;
        }
        // WebAuthn needs a host name: the browser visits http://localhost:PORT, which is PUBLIC_URL.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (addr, public_url) = (format!("127.0.0.1:{port}"), format!("http://localhost:{port}"));
        let overrides = [("JWT_EXPIRATION", ACCESS_TTL_SECONDS), ("PORTCULLIS_ADDR", &addr), ("PUBLIC_URL", &public_url)];
        let Some(app) = spawn_app_with(db, &overrides).await else { return };
        let password = format!("{PASSWORD}\n");
        portcullis::cli::create_user(&app.auth, "e2e-admin", "e2e-admin@example.com", true, password.as_bytes())
            .await
            .expect("admin created");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        // The SQLite run refreshes the screenshots the README shows; the other writes elsewhere.
        let screenshots = match db {
            Db::Sqlite => dir.join("screenshots"),
            Db::Postgres => std::env::temp_dir().join(format!("portcullis-shots-{}", app.address.replace([':', '/'], "_"))),
        };
        let base_url = public_url.clone();
        let outbox = app.auth.settings().mail_outbox_dir.clone();
        let output = actix_web::rt::task::spawn_blocking(move || {
            Command::new("node")
                .arg("flows.mjs")
                .current_dir(&dir)
                .env("BASE_URL", base_url)
                .env("ACCESS_TTL_SECONDS", ACCESS_TTL_SECONDS)
                .env("SCREENSHOT_DIR", screenshots)
                .env("ADMIN_USERNAME", "e2e-admin")
                .env("ADMIN_PASSWORD", PASSWORD)
                .env("MAIL_OUTBOX_DIR", outbox)
                .output()
                .expect("node runs")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("{stdout}");
        assert!(output.status.success(), "browser flows failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("0 failed") && !stdout.contains("not ok"), "{stdout}");
    }
}
