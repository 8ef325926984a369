//! Test harness: every test gets its own server on a random port and its own database.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use diesel::{Connection, RunQueryDsl};
use portcullis::auth::AuthService;
use portcullis::config::Settings;
use portcullis::startup::Application;
use serde_json::{json, Value};

pub use reqwest::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs an `async fn run(db: Db)` body once per backend, as two tests that can run in parallel.
#[macro_export]
macro_rules! dual {
    ($(async fn $name:ident($db:ident: Db) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($db: $crate::helpers::Db) $body
            #[actix_web::test]
            async fn sqlite() { run($crate::helpers::Db::Sqlite).await }
            #[actix_web::test]
            async fn postgres() { run($crate::helpers::Db::Postgres).await }
        }
    )*};
}

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    /// A client with a cookie jar and no redirect following, like a browser tab.
    pub browser: reqwest::Client,
    /// A client without cookies, like a native app.
    pub api: reqwest::Client,
    pub auth: AuthService,
    pub database_url: String,
    /// The Prometheus listener's port, when the app was started with `METRICS_ADDR`.
    pub metrics_port: Option<u16>,
    _db: DbGuard,
}

/// The base URL of the test PostgreSQL server (a database the tests may create schemas in).
fn postgres_base() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether PostgreSQL is reachable; when it is not, say so loudly (and fail under CI).
fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match diesel::PgConnection::establish(&postgres_base()) {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but PostgreSQL at {} is unreachable: {e}", postgres_base());
            }
            eprintln!(
                "\n!!!!!!!!!! POSTGRESQL TESTS SKIPPED: {} is unreachable ({e}). \
                 Set PORTCULLIS_TEST_POSTGRES_URL or start PostgreSQL. !!!!!!!!!!\n",
                postgres_base()
            );
            false
        }
    })
}

/// Removes the test's database when the test ends.
pub enum DbGuard {
    Sqlite(PathBuf),
    Postgres(String),
    /// A second instance on another test's database: the first one cleans up.
    Shared,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        match self {
            DbGuard::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            DbGuard::Postgres(schema) => {
                if let Ok(mut conn) = diesel::PgConnection::establish(&postgres_base()) {
                    let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn);
                }
            }
            DbGuard::Shared => {}
        }
    }
}

/// A fresh database of the given backend: a temporary SQLite file or a PostgreSQL schema.
pub fn fresh_database(db: Db) -> Option<(String, DbGuard)> {
    let id: String =
        portcullis::ids::new_id().chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    match db {
        Db::Sqlite => {
            let path = std::env::temp_dir().join(format!("portcullis-test-{id}.db"));
            Some((format!("sqlite://{}", path.display()), DbGuard::Sqlite(path)))
        }
        Db::Postgres => {
            if !postgres_available() {
                return None;
            }
            let schema = format!("t_{id}");
            let mut conn = diesel::PgConnection::establish(&postgres_base()).expect("connect to PostgreSQL");
            diesel::sql_query(format!("CREATE SCHEMA {schema}")).execute(&mut conn).expect("create schema");
            let base = postgres_base();
            let sep = if base.contains('?') { '&' } else { '?' };
            Some((format!("{base}{sep}options=-csearch_path%3D{schema}"), DbGuard::Postgres(schema)))
        }
    }
}

pub fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("PORTCULLIS_ADDR", "127.0.0.1:0"),
        ("JWT_SECRET", "test-access-secret-0123456789abcdef0123"),
        ("JWT_REFRESH_SECRET", "test-refresh-secret-0123456789abcdef012"),
        ("BCRYPT_COST", "4"),
        ("COOKIE_SECURE", "false"),
        ("JWT_LEEWAY", "0"),
        ("DATABASE_POOL_SIZE", "8"),
        ("AUTH_RATE_LIMIT_BURST", "100000"),
        ("AUTH_RATE_LIMIT_REPLENISH_SECS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("DATABASE_URL".into(), database_url.into());
    let outbox = std::env::temp_dir().join(format!("portcullis-outbox-{}", portcullis::ids::new_id()));
    vars.insert("MAIL_OUTBOX_DIR".into(), outbox.display().to_string());
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("valid test settings")
}

pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, &[]).await
}

pub async fn spawn_app_with(db: Db, overrides: &[(&str, &str)]) -> Option<TestApp> {
    let (url, guard) = fresh_database(db)?;
    Some(spawn_on(url, guard, overrides).await)
}

/// Starts a server on an existing database (a second instance beside another).
pub async fn spawn_on(database_url: String, guard: DbGuard, overrides: &[(&str, &str)]) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        portcullis::logging::init();
    }
    let settings = test_settings(&database_url, overrides);
    let app = Application::build(settings).await.expect("application builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let auth = app.auth().clone();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        browser: client(true),
        api: client(false),
        auth,
        database_url,
        metrics_port,
        _db: guard,
    }
}

pub fn client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        // Below the server's 5 s keep-alive: a pooled connection the server is closing is never
        // reused (a loaded CI machine showed hyper's IncompleteMessage from that race).
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client builds")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, client: &reqwest::Client, path: &str, body: Value) -> reqwest::Response {
        client.post(self.url(path)).json(&body).send().await.expect("request sent")
    }

    /// Signs a new user up through the API; returns the response body.
    pub async fn signup(&self, client: &reqwest::Client, username: &str) -> Value {
        let response = self
            .post_json(
                client,
                "/auth/signup",
                json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "signup of {username}");
        response.json().await.expect("json body")
    }

    pub async fn login(&self, client: &reqwest::Client, username: &str) -> reqwest::Response {
        self.post_json(client, "/auth/login", json!({"username": username, "password": PASSWORD})).await
    }

    /// Signs a user up, then signs in through the API; returns (access token, refresh token).
    pub async fn session(&self, username: &str) -> (String, String) {
        let response = self.login(&self.api, username).await;
        assert_eq!(response.status(), StatusCode::OK);
        let refresh = set_cookie(&response, "refresh_token").expect("refresh cookie");
        let body: Value = response.json().await.unwrap();
        (body["access_token"].as_str().unwrap().to_string(), refresh)
    }

    /// The CSRF token of the client's session (what a page's meta tag carries).
    pub async fn csrf(&self, client: &reqwest::Client) -> String {
        let body: Value = client.get(self.url("/auth/csrf")).send().await.unwrap().json().await.unwrap();
        body["csrf_token"].as_str().unwrap().to_string()
    }

    pub async fn refresh_with_body(&self, token: &str) -> reqwest::Response {
        self.post_json(&self.api, "/auth/refresh", json!({"refresh_token": token})).await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.api.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// Runs a query on the app's own pool.
    pub async fn query<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut portcullis::db::AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> T {
        portcullis::db::run(self.auth.pool(), move |conn| work(conn).map_err(portcullis::db::DbError::from))
            .await
            .expect("query succeeds")
    }

    pub async fn audit_kinds(&self, user_id: &str) -> Vec<String> {
        let uid = user_id.to_string();
        self.query(move |conn| portcullis::db::audit::page(conn, Some(&uid), None, 100, 0))
            .await
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

/// The value of a cookie the response sets, if it sets it.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookie_header(response, name).map(|h| h.split(';').next().unwrap_or("").split_once('=').unwrap().1.to_string())
}

/// The whole `Set-Cookie` header for a cookie, attributes included.
pub fn set_cookie_header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// Asserts a JSON error with the given status and contract code; returns the body.
pub async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for expected {code}");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "description in {body}");
    body
}

/// The decoded header and claims of a JWT (no verification: for inspecting what we issue).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().expect("jwt part");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
        serde_json::from_slice::<Value>(&bytes).expect("json")
    };
    (decode(), decode())
}

/// The CSRF token in a page's `<meta name="csrf-token">`.
pub fn meta_csrf(html: &str) -> String {
    let marker = r#"<meta name="csrf-token" content=""#;
    let start = html.find(marker).expect("page has a csrf meta tag") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl TestApp {
    /// Loads a page in the browser client and returns its CSRF token.
    pub async fn page_csrf(&self, path: &str) -> String {
        let html = self.browser.get(self.url(path)).send().await.unwrap().text().await.unwrap();
        meta_csrf(&html)
    }

    /// Posts a form from the browser client.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.browser.post(self.url(path)).form(fields).send().await.expect("request sent")
    }

    /// Signs up through the signup form (with its CSRF token); the browser keeps the cookies.
    pub async fn form_signup(&self, username: &str) -> reqwest::Response {
        let csrf = self.page_csrf("/signup").await;
        let email = format!("{username}@example.com");
        self.post_form(
            "/auth/signup",
            &[("csrf_token", &csrf), ("username", username), ("email", &email), ("password", PASSWORD)],
        )
        .await
    }
}

impl TestApp {
    /// Creates an administrator (as `portcullis create-user --admin` does) and signs in.
    pub async fn admin_session(&self, username: &str) -> (String, String) {
        let password = format!("{PASSWORD}\n");
        portcullis::cli::create_user(
            &self.auth,
            username,
            &format!("{username}@example.com"),
            true,
            password.as_bytes(),
        )
        .await
        .expect("admin created");
        self.session(username).await
    }
}

impl TestApp {
    /// Waits (up to 5 s) until `/healthz` says the database is reachable again.
    pub async fn wait_until_healthy(&self) {
        for _ in 0..100 {
            if self.api.get(self.url("/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the app did not see its database come back");
    }

    /// Waits (up to 5 s) for a message to `to` in the outbox and returns its raw text.
    pub async fn wait_for_mail(&self, to: &str) -> String {
        let dir = self.auth.settings().mail_outbox_dir.clone();
        for _ in 0..100 {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    if text.contains(&format!("To: {to}")) {
                        let _ = std::fs::remove_file(entry.path());
                        return text;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail to {to} in {}", dir.display());
    }

    /// How many messages sit in the outbox.
    pub fn outbox_len(&self) -> usize {
        std::fs::read_dir(&self.auth.settings().mail_outbox_dir).map(|d| d.count()).unwrap_or(0)
    }
}

/// The reset token of a reset mail's link.
pub fn reset_token(mail: &str) -> String {
    let start = mail.find("/reset?token=").expect("mail has a reset link") + "/reset?token=".len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// A connection of the test's own to the app's database (not from the app's pool).
pub fn direct_connection(database_url: &str) -> portcullis::db::AnyConnection {
    use diesel::Connection;
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            portcullis::db::AnyConnection::Sqlite(diesel::SqliteConnection::establish(path).expect("open SQLite"))
        }
        None => portcullis::db::AnyConnection::Postgresql(
            diesel::PgConnection::establish(database_url).expect("connect to PostgreSQL"),
        ),
    }
}

/// Takes the database away from a running app and gives it back.
/// - PostgreSQL: the app reaches the server through a TCP proxy of the test's, which can refuse
///   new connections (`down`) and cut the live ones (`cut`), as a network outage does.
/// - SQLite: a connection of the test's holds the write lock (`down`), so every write waits out
///   the busy timeout and fails with "database is locked", as under a stuck writer.
pub struct DbSwitch {
    db: Db,
    /// The database without the proxy (for the test's own connections).
    pub direct_url: String,
    proxy: Option<Arc<ProxyState>>,
    sqlite_lock: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

struct ProxyState {
    up: AtomicBool,
    /// Bytes are held, not forwarded: the server seems to stop answering.
    stalled: AtomicBool,
    cut: tokio::sync::broadcast::Sender<()>,
}

/// Copies one direction, holding the bytes while the proxy is stalled.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<ProxyState>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        while state.stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// An app whose database the test can switch off and on.
pub async fn spawn_app_with_switch(db: Db, overrides: &[(&str, &str)]) -> Option<(TestApp, DbSwitch)> {
    let (url, guard) = fresh_database(db)?;
    let (app_url, proxy) = match db {
        Db::Sqlite => (url.clone(), None),
        Db::Postgres => {
            let upstream = host_port(&url);
            let (port, proxy) = start_proxy(upstream.clone());
            (url.replacen(&upstream, &format!("127.0.0.1:{port}"), 1), Some(proxy))
        }
    };
    let app = spawn_on(app_url, guard, overrides).await;
    Some((app, DbSwitch { db, direct_url: url, proxy, sqlite_lock: std::sync::Mutex::new(None) }))
}

/// `host:port` of a PostgreSQL URL (`postgres://user@host:port/db?...`).
fn host_port(url: &str) -> String {
    let after_at = url.split_once('@').map(|(_, rest)| rest).unwrap_or(url);
    let authority = after_at.split(['/', '?']).next().unwrap_or(after_at);
    if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:5432")
    }
}

/// A TCP forwarder on its own thread (the app's pool connects synchronously, so the proxy must
/// not share the test's runtime).
fn start_proxy(upstream: String) -> (u16, Arc<ProxyState>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().unwrap().port();
    let (cut, _) = tokio::sync::broadcast::channel(4);
    let state = Arc::new(ProxyState { up: AtomicBool::new(true), stalled: AtomicBool::new(false), cut });
    let shared = state.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                if !shared.up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused as soon as it opens
                }
                let mut cut = shared.cut.subscribe();
                let upstream = upstream.clone();
                let state = shared.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        _ = forward(client_read, server_write, state.clone()) => {}
                        _ = forward(server_read, client_write, state) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
    });
    (port, state)
}

impl DbSwitch {
    /// The database goes away.
    pub fn down(&self) {
        match self.db {
            Db::Postgres => {
                let proxy = self.proxy.as_ref().unwrap();
                proxy.up.store(false, Ordering::SeqCst);
                let _ = proxy.cut.send(());
            }
            Db::Sqlite => {
                let path = self.direct_url.strip_prefix("sqlite://").unwrap().to_string();
                let (release, wait) = std::sync::mpsc::channel::<()>();
                let (locked, is_locked) = std::sync::mpsc::channel::<()>();
                std::thread::spawn(move || {
                    use diesel::connection::SimpleConnection;
                    let mut conn = diesel::SqliteConnection::establish(&path).expect("open SQLite");
                    conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN EXCLUSIVE;").expect("take the write lock");
                    locked.send(()).unwrap();
                    let _ = wait.recv();
                    let _ = conn.batch_execute("ROLLBACK;");
                });
                is_locked.recv().expect("the lock is taken");
                *self.sqlite_lock.lock().unwrap() = Some(release);
            }
        }
    }

    /// The database comes back.
    pub fn up(&self) {
        match self.db {
            Db::Postgres => self.proxy.as_ref().unwrap().up.store(true, Ordering::SeqCst),
            Db::Sqlite => {
                if let Some(release) = self.sqlite_lock.lock().unwrap().take() {
                    let _ = release.send(());
                }
                // Let the lock holder roll back before the next write.
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }

    /// PostgreSQL: the server stops answering (bytes are held, connections stay open), or
    /// answers again.
    pub fn stall(&self, stalled: bool) {
        self.proxy.as_ref().expect("stall needs the PostgreSQL proxy").stalled.store(stalled, Ordering::SeqCst);
    }

    /// PostgreSQL: drops every live connection (queries in flight fail); new ones still connect.
    pub fn cut(&self) {
        let _ = self.proxy.as_ref().expect("cut needs the PostgreSQL proxy").cut.send(());
    }
}
