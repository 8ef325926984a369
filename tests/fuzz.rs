//! Fuzz targets (proptest) over what parses untrusted input: the access-token verifier, the
//! refresh-token parser, the JSON/form body parser, and the redirect and address rules.
//!
//! `cargo test --test fuzz` runs each target briefly. For a long run:
//! `FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture --test-threads=1 <target>`
//! prints how many inputs each target executed in that time.
use std::time::{Duration, Instant};

use portcullis::auth::tokens::{AccessClaims, JwtKeys, SecretTokens};
use portcullis::config::Settings;
use portcullis::error::ApiError;
use portcullis::routes::auth::{LoginBody, RefreshBody, SignupBody};
use portcullis::routes::extract::parse_body;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const BATCH: u32 = 2000;

/// Runs `check` over generated inputs: one batch, or batches until `FUZZ_SECONDS` have passed.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value)) {
    let budget = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).map(Duration::from_secs);
    let started = Instant::now();
    let mut executed: u64 = 0;
    loop {
        let config = Config { cases: BATCH, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new(config);
        if let Err(failure) = runner.run(&strategy, |input| {
            check(input);
            Ok(())
        }) {
            panic!("fuzz target {name} failed: {failure}");
        }
        executed += u64::from(BATCH);
        if budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    eprintln!("fuzz {name}: {executed} inputs in {:.1} s, no failure", started.elapsed().as_secs_f64());
}

fn settings() -> Settings {
    Settings::from_lookup(|name| match name {
        "JWT_SECRET" => Some("fuzz-access-secret-0123456789abcdef0123".into()),
        "JWT_REFRESH_SECRET" => Some("fuzz-refresh-secret-0123456789abcdef012".into()),
        "DATABASE_URL" => Some("sqlite://:memory:".into()),
        _ => None,
    })
    .unwrap()
}

fn valid_token(keys: &JwtKeys) -> (String, AccessClaims) {
    let now = portcullis::clock::now();
    let claims = AccessClaims {
        iss: "portcullis".into(),
        aud: "portcullis".into(),
        sub: "user".into(),
        iat: now,
        exp: now + 600,
        jti: "j".into(),
        sid: "s".into(),
        ver: 0,
        role: "user".into(),
        name: "n".into(),
        email: "n@example.com".into(),
        created_at: 0,
        status: None,
        nbf: None,
    };
    (keys.sign(&claims).unwrap(), claims)
}

/// Strings shaped like JWTs: three dot-separated base64url-ish parts, sometimes real JSON.
fn jwt_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_=+/-]{0,80}\\.[A-Za-z0-9_=+/-]{0,200}\\.[A-Za-z0-9_=+/-]{0,90}",
        "eyJ[A-Za-z0-9_-]{0,60}\\.eyJ[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,43}",
    ]
}

#[test]
fn access_token_verifier() {
    let keys = JwtKeys::from_settings(&settings()).unwrap();
    let (token, claims) = valid_token(&keys);
    assert!(keys.verify(&token).is_ok(), "the harness's own token verifies");
    fuzz("access_token_verifier", jwt_like(), |input| {
        // Arbitrary input never panics and is never accepted.
        assert!(keys.verify(&input).is_err(), "accepted a forged token: {input}");
    });
    fuzz("access_token_mutations", (0..token.len(), any::<u8>()), |(at, byte)| {
        let mut bytes = token.clone().into_bytes();
        bytes[at] = byte;
        let Ok(mutated) = String::from_utf8(bytes) else { return };
        // A mutation may only be accepted if it decodes to the very same token (base64's
        // unused trailing bits), never to different claims.
        if let Ok(accepted) = keys.verify(&mutated) {
            assert_eq!(accepted.sub, claims.sub);
            assert_eq!(accepted.sid, claims.sid);
            assert_eq!(accepted.exp, claims.exp);
        }
    });
}

#[test]
fn refresh_token_parser() {
    let keys = SecretTokens::new(settings().jwt_refresh_secret.clone());
    let strategy = prop_oneof![any::<String>(), "[A-Za-z0-9_-]{40,46}", "[ -~]{43}"];
    fuzz("refresh_token_parser", strategy, |input| {
        if SecretTokens::is_well_formed(&input) {
            assert_eq!(input.len(), 43);
            let (hash, next) = (keys.hash(&input), keys.successor(&input));
            assert!(SecretTokens::is_well_formed(&next), "a successor is a token too");
            assert_ne!(hash, keys.hash(&next));
        }
    });
}

fn assert_client_error(result: Result<impl Sized, ApiError>) {
    if let Err(e) = result {
        use actix_web::ResponseError;
        assert!(e.status_code().is_client_error(), "{e:?} is not a 4xx");
    }
}

#[test]
fn body_parsers() {
    let json = prop_oneof![
        any::<Vec<u8>>(),
        "\\{(\"(username|email|password|refresh_token|next|csrf_token|x)\": ?(\"[^\"]{0,40}\"|-?[0-9]{1,20}|null|true|\\[\\]|\\{\\}|[0-9.e+]{1,10}),? ?){0,6}\\}"
            .prop_map(String::into_bytes),
    ];
    let form = prop_oneof![
        any::<Vec<u8>>(),
        "((username|email|password|refresh_token|next|csrf_token|x)=[%A-Za-z0-9+=&;._~-]{0,40}&?){0,6}"
            .prop_map(String::into_bytes),
    ];
    let types = prop_oneof![
        Just(Some("application/json")),
        Just(Some("application/x-www-form-urlencoded")),
        Just(None),
        Just(Some("text/plain")),
    ];
    fuzz("body_parsers_json", (types.clone(), json), |(content_type, body)| {
        assert_client_error(parse_body::<SignupBody>(content_type, &body, None));
        assert_client_error(parse_body::<LoginBody>(content_type, &body, None));
        assert_client_error(parse_body::<RefreshBody>(content_type, &body, Some("h".into())));
    });
    fuzz("body_parsers_form", (types, form), |(content_type, body)| {
        assert_client_error(parse_body::<SignupBody>(content_type, &body, None));
        assert_client_error(parse_body::<LoginBody>(content_type, &body, None));
        assert_client_error(parse_body::<RefreshBody>(content_type, &body, None));
    });
}

#[test]
fn input_rules() {
    use portcullis::domain::{Email, LoginName, Password, Username};
    use portcullis::routes::redirect::safe_next;
    let text = prop_oneof![any::<String>(), "[/\\\\%a-zA-Z0-9:._~?#@ \t-]{0,60}"];
    fuzz("input_rules", text, |input| {
        let _ = Username::parse(&input);
        let _ = Email::parse(&input);
        let _ = LoginName::parse(&input);
        let _ = Password::parse_new(input.clone(), &["user"]);
        let next = safe_next(Some(&input));
        assert!(next.starts_with('/') && !next.starts_with("//") && !next.contains('\\'), "{input:?} -> {next:?}");
        let header = portcullis::net::client_ip(
            Some("10.0.0.1".parse().unwrap()),
            Some(&input),
            &["10.0.0.0/8".parse().unwrap()],
        );
        assert!(header.is_some());
    });
}
