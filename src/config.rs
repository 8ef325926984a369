//! Typed settings from the environment (and `.env`), validated once at start.
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::db::DatabaseUrl;
use crate::net::IpRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    EdDsa,
    Es256,
}

/// A bad setting: the variable and what is wrong with it, never its (possibly secret) value.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { var, problem: problem.into() }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub env: Environment,
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    pub jwt_secret: SecretString,
    pub jwt_expiration: i64,
    pub jwt_refresh_secret: SecretString,
    pub jwt_refresh_expiration: i64,
    pub jwt_algorithm: JwtAlgorithm,
    pub jwt_keys_dir: PathBuf,
    pub session_max_age: i64,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_leeway: u64,
    pub refresh_reuse_grace: i64,
    pub bcrypt_cost: u32,
    pub cookie_secure: bool,
    pub auth_rate_limit_burst: u32,
    pub auth_rate_limit_replenish_secs: u64,
    pub trusted_proxies: Vec<IpRange>,
    pub public_url: String,
    pub smtp_url: Option<SecretString>,
    pub mail_outbox_dir: PathBuf,
    pub mail_from: String,
    pub audit_retention_days: i64,
    /// Seconds other services may cache a status list.
    pub status_list_ttl: i64,
    /// Entries per status list.
    pub status_list_size: i64,
    /// HS256 only: the previous secret, accepted for verifying during a rotation.
    pub jwt_secret_previous: Option<SecretString>,
    /// Where the Prometheus listener serves `/metrics` (off when unset).
    pub metrics_addr: Option<SocketAddr>,
    /// Names of the secrets that were generated because they were missing (development only).
    pub generated_secrets: Vec<&'static str>,
}

impl Settings {
    /// Reads the process environment after loading `.env` from the working directory.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is a configuration error.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(bad(".env", e.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any source of variables (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let env = match get("PORTCULLIS_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(_) => return Err(bad("PORTCULLIS_ENV", "must be development or production")),
        };
        let addr = parse_or("PORTCULLIS_ADDR", get("PORTCULLIS_ADDR"), "127.0.0.1:8080".parse().ok(), |v| {
            v.parse::<SocketAddr>().map_err(|_| "must be host:port, e.g. 127.0.0.1:8080".to_string())
        })?;
        let metrics_addr = match get("METRICS_ADDR").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| bad("METRICS_ADDR", "must be host:port, e.g. 127.0.0.1:9090"))?,
            ),
        };
        let database_url = DatabaseUrl::parse(get("DATABASE_URL").as_deref().unwrap_or("sqlite://portcullis.db"))
            .map_err(|p| bad("DATABASE_URL", p))?;
        let mut generated_secrets = Vec::new();
        let jwt_secret = secret("JWT_SECRET", get("JWT_SECRET"), env, &mut generated_secrets)?;
        let jwt_refresh_secret = secret("JWT_REFRESH_SECRET", get("JWT_REFRESH_SECRET"), env, &mut generated_secrets)?;
        if jwt_secret.expose_secret() == jwt_refresh_secret.expose_secret() {
            return Err(bad("JWT_REFRESH_SECRET", "must differ from JWT_SECRET"));
        }
        let jwt_algorithm = match get("JWT_ALGORITHM").as_deref() {
            None | Some("HS256") => JwtAlgorithm::Hs256,
            Some("EdDSA") => JwtAlgorithm::EdDsa,
            Some("ES256") => JwtAlgorithm::Es256,
            Some(_) => return Err(bad("JWT_ALGORITHM", "must be HS256, EdDSA or ES256")),
        };
        // HS256 rotation: the old secret still verifies (never signs) while its tokens may live.
        let jwt_secret_previous = match get("JWT_SECRET_PREVIOUS").filter(|v| !v.is_empty()) {
            // Asymmetric keys rotate with `rotate-keys`; a secret here would never be used.
            Some(_) if jwt_algorithm != JwtAlgorithm::Hs256 => {
                return Err(bad("JWT_SECRET_PREVIOUS", "is for HS256 only (asymmetric keys rotate with rotate-keys)"))
            }
            Some(v) if env == Environment::Production && v.len() < 32 => {
                return Err(bad("JWT_SECRET_PREVIOUS", "must be at least 32 bytes in production"))
            }
            Some(v) if v == jwt_secret.expose_secret() => {
                return Err(bad("JWT_SECRET_PREVIOUS", "must differ from JWT_SECRET"))
            }
            Some(v) if v == jwt_refresh_secret.expose_secret() => {
                return Err(bad("JWT_SECRET_PREVIOUS", "must differ from JWT_REFRESH_SECRET"))
            }
            Some(v) => Some(SecretString::from(v)),
            None => None,
        };
        // Read by `logging::init`, which starts before the settings; checked here so that a typo
        // stops the server instead of logging in another format or at another level.
        match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") | Some("json") => {}
            Some(_) => return Err(bad("LOG_FORMAT", "must be text or json")),
        }
        if let Some(filter) = get("RUST_LOG") {
            tracing_subscriber::EnvFilter::try_new(&filter)
                .map_err(|e| bad("RUST_LOG", format!("is not a log filter ({})", e.to_string().replace('\n', " "))))?;
        }
        let cookie_secure = parse_or("COOKIE_SECURE", get("COOKIE_SECURE"), Some(true), parse_bool)?;
        let settings = Settings {
            addr,
            env,
            database_pool_size: int("DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE"), 10, 1, 1000)? as u32,
            jwt_expiration: int("JWT_EXPIRATION", get("JWT_EXPIRATION"), 900, 1, 86_400)?,
            jwt_refresh_expiration: int(
                "JWT_REFRESH_EXPIRATION",
                get("JWT_REFRESH_EXPIRATION"),
                604_800,
                1,
                31_536_000,
            )?,
            jwt_algorithm,
            jwt_keys_dir: PathBuf::from(get("JWT_KEYS_DIR").unwrap_or_else(|| "./keys".into())),
            session_max_age: int("SESSION_MAX_AGE", get("SESSION_MAX_AGE"), 2_592_000, 1, 315_360_000)?,
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "portcullis".into()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "portcullis".into()),
            jwt_leeway: int("JWT_LEEWAY", get("JWT_LEEWAY"), 30, 0, 3600)? as u64,
            refresh_reuse_grace: int("REFRESH_REUSE_GRACE", get("REFRESH_REUSE_GRACE"), 10, 0, 300)?,
            bcrypt_cost: int("BCRYPT_COST", get("BCRYPT_COST"), 12, 4, 31)? as u32,
            cookie_secure,
            auth_rate_limit_burst: int("AUTH_RATE_LIMIT_BURST", get("AUTH_RATE_LIMIT_BURST"), 5, 1, 1_000_000)? as u32,
            auth_rate_limit_replenish_secs: int(
                "AUTH_RATE_LIMIT_REPLENISH_SECS",
                get("AUTH_RATE_LIMIT_REPLENISH_SECS"),
                180,
                1,
                86_400,
            )? as u64,
            trusted_proxies: trusted_proxies(get("TRUSTED_PROXIES"))?,
            public_url: public_url(get("PUBLIC_URL"))?,
            smtp_url: smtp_url(get("SMTP_URL"))?,
            mail_outbox_dir: PathBuf::from(get("MAIL_OUTBOX_DIR").unwrap_or_else(|| "./outbox".into())),
            mail_from: get("MAIL_FROM").unwrap_or_else(|| "portcullis <no-reply@localhost>".into()),
            audit_retention_days: int("AUDIT_RETENTION_DAYS", get("AUDIT_RETENTION_DAYS"), 90, 1, 36_500)?,
            status_list_ttl: int("STATUS_LIST_TTL", get("STATUS_LIST_TTL"), 5, 1, 86_400)?,
            status_list_size: int("STATUS_LIST_SIZE", get("STATUS_LIST_SIZE"), 1_048_576, 8, 67_108_864)?,
            database_url,
            jwt_secret,
            jwt_refresh_secret,
            metrics_addr,
            jwt_secret_previous,
            generated_secrets,
        };
        settings.check_production()?;
        Ok(settings)
    }

    fn check_production(&self) -> Result<(), ConfigError> {
        if self.env != Environment::Production {
            return Ok(());
        }
        if !self.cookie_secure {
            return Err(bad("COOKIE_SECURE", "must be true in production"));
        }
        if self.database_url.is_in_memory() {
            return Err(bad("DATABASE_URL", "an in-memory database is not allowed in production"));
        }
        // Without SMTP, reset links would sit in clear in the outbox directory.
        if self.smtp_url.is_none() {
            return Err(bad("SMTP_URL", "is required in production (reset links are mailed, never written to disk)"));
        }
        // Reset links carry a bearer secret: never over plain http.
        if !self.public_url.starts_with("https://") {
            return Err(bad("PUBLIC_URL", "must be an https:// URL in production"));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }
}

/// A secret: required (32+ bytes) in production, generated with a warning in development.
fn secret(
    var: &'static str,
    value: Option<String>,
    env: Environment,
    generated: &mut Vec<&'static str>,
) -> Result<SecretString, ConfigError> {
    match value {
        Some(v) if env == Environment::Production && v.len() < 32 => {
            Err(bad(var, "must be at least 32 bytes in production"))
        }
        Some(v) => Ok(SecretString::from(v)),
        None if env == Environment::Production => Err(bad(var, "is required in production")),
        None => {
            generated.push(var);
            Ok(SecretString::from(crate::ids::random_b64(32)))
        }
    }
}

fn parse_or<T>(
    var: &'static str,
    value: Option<String>,
    default: Option<T>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match value {
        Some(v) => parse(v.trim()).map_err(|p| bad(var, p)),
        None => default.ok_or_else(|| bad(var, "is required")),
    }
}

fn int(var: &'static str, value: Option<String>, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    parse_or(var, value, Some(default), |v| match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be an integer from {min} to {max}")),
    })
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn trusted_proxies(value: Option<String>) -> Result<Vec<IpRange>, ConfigError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<IpRange>().map_err(|_| bad("TRUSTED_PROXIES", format!("{s:?} is not an IP or CIDR"))))
        .collect()
}

fn public_url(value: Option<String>) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| "http://127.0.0.1:8080".into());
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("PUBLIC_URL", "must start with http:// or https://"));
    }
    if !url.is_ascii() || url.len() > 200 || url.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return Err(bad("PUBLIC_URL", "must be an ASCII URL of at most 200 characters"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn smtp_url(value: Option<String>) -> Result<Option<SecretString>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) if v.starts_with("smtp://") || v.starts_with("smtps://") => Ok(Some(SecretString::from(v))),
        Some(_) => Err(bad("SMTP_URL", "must start with smtp:// or smtps://")),
    }
}
