use std::collections::HashMap;

use portcullis::config::Settings;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_lookup(|name| vars.get(name).cloned()).map_err(|e| e.to_string())
}

const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef-a";
const OTHER_SECRET: &str = "0123456789abcdef0123456789abcdef-b";

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
    assert!(settings(&[prod, ("JWT_SECRET", GOOD_SECRET), ("JWT_REFRESH_SECRET", OTHER_SECRET)]).is_ok());
}

#[test]
fn production_refuses_insecure_cookies_and_in_memory_databases() {
    let base = [("PORTCULLIS_ENV", "production"), ("JWT_SECRET", GOOD_SECRET), ("JWT_REFRESH_SECRET", OTHER_SECRET)];
    let err = settings(&[&base[..], &[("COOKIE_SECURE", "false")]].concat()).unwrap_err();
    assert!(err.contains("COOKIE_SECURE"), "{err}");
    let err = settings(&[&base[..], &[("DATABASE_URL", "sqlite://:memory:")]].concat()).unwrap_err();
    assert!(err.contains("DATABASE_URL"), "{err}");
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
