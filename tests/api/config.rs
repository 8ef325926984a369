use std::collections::HashMap;

use portcullis::config::Settings;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_lookup(|name| vars.get(name).cloned()).map_err(|e| e.to_string())
}

const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef-a";
const OTHER_SECRET: &str = "0123456789abcdef0123456789abcdef-b";
/// What production needs besides the secrets.
const PROD_MAIL: [(&str, &str); 2] =
    [("SMTP_URL", "smtps://mailer:pw@mail.example.com"), ("PUBLIC_URL", "https://auth.example.com")];

#[test]
fn development_generates_missing_secrets_and_says_which() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.generated_secrets, vec!["JWT_SECRET", "JWT_REFRESH_SECRET"]);
    assert_eq!(s.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(s.jwt_expiration, 900);
    assert_eq!(s.bcrypt_cost, 12);
}

#[test]
fn production_requires_real_distinct_secrets() {
    let prod = ("PORTCULLIS_ENV", "production");
    let err = settings(&[prod]).unwrap_err();
    assert!(err.contains("JWT_SECRET") && err.contains("required"), "{err}");
    let err = settings(&[prod, ("JWT_SECRET", "short"), ("JWT_REFRESH_SECRET", OTHER_SECRET)]).unwrap_err();
    assert!(err.contains("JWT_SECRET") && err.contains("32 bytes"), "{err}");
    let err = settings(&[prod, ("JWT_SECRET", GOOD_SECRET), ("JWT_REFRESH_SECRET", GOOD_SECRET)]).unwrap_err();
    assert!(err.contains("JWT_REFRESH_SECRET") && err.contains("differ"), "{err}");
    let complete =
        [&[prod, ("JWT_SECRET", GOOD_SECRET), ("JWT_REFRESH_SECRET", OTHER_SECRET)][..], &PROD_MAIL].concat();
    assert!(settings(&complete).is_ok());
}

#[test]
fn production_refuses_insecure_cookies_and_in_memory_databases() {
    let base = [
        ("PORTCULLIS_ENV", "production"),
        ("JWT_SECRET", GOOD_SECRET),
        ("JWT_REFRESH_SECRET", OTHER_SECRET),
        PROD_MAIL[0],
        PROD_MAIL[1],
    ];
    let err = settings(&[&base[..], &[("COOKIE_SECURE", "false")]].concat()).unwrap_err();
    assert!(err.contains("COOKIE_SECURE"), "{err}");
    let err = settings(&[&base[..], &[("DATABASE_URL", "sqlite://:memory:")]].concat()).unwrap_err();
    assert!(err.contains("DATABASE_URL"), "{err}");
}

#[test]
fn production_refuses_reset_links_on_disk_or_over_plain_http() {
    let secrets = [("PORTCULLIS_ENV", "production"), ("JWT_SECRET", GOOD_SECRET), ("JWT_REFRESH_SECRET", OTHER_SECRET)];
    let err = settings(&[&secrets[..], &[PROD_MAIL[1]]].concat()).unwrap_err();
    assert!(err.starts_with("configuration error: SMTP_URL:"), "{err}");
    let err =
        settings(&[&secrets[..], &[PROD_MAIL[0], ("PUBLIC_URL", "http://auth.example.com")]].concat()).unwrap_err();
    assert!(err.starts_with("configuration error: PUBLIC_URL:"), "{err}");
    let err = settings(&[&secrets[..], &[PROD_MAIL[0]]].concat()).unwrap_err();
    assert!(err.contains("PUBLIC_URL"), "the http default is refused too: {err}");
    // Development keeps the outbox and plain http for local use.
    assert!(settings(&[]).is_ok());
}

#[test]
fn every_bad_value_names_its_variable() {
    let cases = [
        ("PORTCULLIS_ADDR", "nowhere"),
        ("PORTCULLIS_ENV", "staging"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_POOL_SIZE", "0"),
        ("JWT_EXPIRATION", "soon"),
        ("JWT_REFRESH_EXPIRATION", "-1"),
        ("JWT_ALGORITHM", "none"),
        ("SESSION_MAX_AGE", "x"),
        ("JWT_LEEWAY", "-3"),
        ("REFRESH_REUSE_GRACE", "many"),
        ("BCRYPT_COST", "3"),
        ("COOKIE_SECURE", "maybe"),
        ("AUTH_RATE_LIMIT_BURST", "0"),
        ("AUTH_RATE_LIMIT_REPLENISH_SECS", "x"),
        ("TRUSTED_PROXIES", "10.0.0.0/99"),
        ("PUBLIC_URL", "ftp://x"),
        ("SMTP_URL", "http://mail"),
        ("AUDIT_RETENTION_DAYS", "0"),
    ];
    for (var, value) in cases {
        let err = settings(&[(var, value)]).unwrap_err();
        assert!(err.starts_with(&format!("configuration error: {var}:")), "{var}={value} gave {err}");
        assert!(!err.contains('\n'));
    }
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let s = settings(&[
        ("JWT_SECRET", GOOD_SECRET),
        ("JWT_REFRESH_SECRET", OTHER_SECRET),
        ("DATABASE_URL", "postgres://app:db-password-42@db.internal/portcullis"),
        ("SMTP_URL", "smtps://mailer:smtp-password-42@mail.example.com"),
    ])
    .unwrap();
    let debug = format!("{s:?}");
    for secret in [GOOD_SECRET, OTHER_SECRET, "db-password-42", "smtp-password-42"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn production_without_smtp_stops_with_one_line_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env_clear()
        .env("PORTCULLIS_ENV", "production")
        .env("JWT_SECRET", GOOD_SECRET)
        .env("JWT_REFRESH_SECRET", OTHER_SECRET)
        .env("PUBLIC_URL", "https://auth.example.com")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SMTP_URL") && stderr.trim().lines().count() == 1, "{stderr}");
}

#[test]
fn log_settings_are_checked_at_start() {
    for (var, value) in [("LOG_FORMAT", "xml"), ("RUST_LOG", "portcullis=loud"), ("RUST_LOG", "[{")] {
        let err = settings(&[(var, value)]).unwrap_err();
        assert!(err.starts_with(&format!("configuration error: {var}:")), "{var}={value} gave {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    for (var, value) in [("LOG_FORMAT", "json"), ("LOG_FORMAT", "text"), ("RUST_LOG", "info,portcullis=trace")] {
        assert!(settings(&[(var, value)]).is_ok(), "{var}={value}");
    }
}

#[test]
fn a_previous_secret_is_refused_where_it_cannot_serve_or_would_weaken_a_key() {
    let err = settings(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_SECRET_PREVIOUS", GOOD_SECRET)]).unwrap_err();
    assert!(err.starts_with("configuration error: JWT_SECRET_PREVIOUS:") && err.contains("HS256"), "{err}");
    assert!(settings(&[("JWT_ALGORITHM", "HS256"), ("JWT_SECRET_PREVIOUS", GOOD_SECRET)]).is_ok());
    let third = "0123456789abcdef0123456789abcdef-c";
    let prod = [
        &[("PORTCULLIS_ENV", "production"), ("JWT_SECRET", GOOD_SECRET), ("JWT_REFRESH_SECRET", OTHER_SECRET)][..],
        &PROD_MAIL,
    ]
    .concat();
    for previous in [GOOD_SECRET, OTHER_SECRET] {
        let err = settings(&[&prod[..], &[("JWT_SECRET_PREVIOUS", previous)]].concat()).unwrap_err();
        assert!(err.starts_with("configuration error: JWT_SECRET_PREVIOUS:") && err.contains("differ"), "{err}");
    }
    assert!(settings(&[&prod[..], &[("JWT_SECRET_PREVIOUS", third)]].concat()).is_ok());
}
