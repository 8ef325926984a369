//! The tables, shared by both backends (only types both support: Text, BigInt, Integer).
diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        username_key -> Text,
        email -> Text,
        email_key -> Text,
        password_hash -> Text,
        role -> Text,
        token_version -> BigInt,
        created_at -> BigInt,
        failed_logins -> Integer,
        last_failed_login_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        user_agent -> Text,
        ip -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        absolute_expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        status_list -> Text,
        status_idx -> BigInt,
        device -> Text,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        session_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at_us -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        actor -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_devices (id, user_id) {
        id -> Text,
        user_id -> Text,
        failed_logins -> Integer,
        last_failed_login_at -> Nullable<BigInt>,
        created_at -> BigInt,
        last_login_at -> BigInt,
    }
}

diesel::table! {
    revocation_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        user_id -> Text,
        session_id -> Nullable<Text>,
        token_version -> Nullable<BigInt>,
        role -> Nullable<Text>,
        status_list -> Nullable<Text>,
        status_idx -> Nullable<BigInt>,
    }
}

diesel::table! {
    status_lists (id) {
        id -> Text,
        size -> BigInt,
        allocated -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    status_entries (list_id, idx) {
        list_id -> Text,
        idx -> BigInt,
        invalid_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    revocation_cursor (id) {
        id -> Integer,
        last_id -> BigInt,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> Text,
        secret_sealed -> Text,
        confirmed_at -> Nullable<BigInt>,
        last_step -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    mfa_challenges (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        device_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        credential_id -> Text,
        credential -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_sealed -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(status_entries -> status_lists (list_id));
diesel::joinable!(login_devices -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    audit_events,
    password_resets,
    login_devices,
    revocation_events,
    revocation_cursor,
    status_lists,
    status_entries,
    totp_factors,
    recovery_codes,
    mfa_challenges,
    passkeys,
    webauthn_ceremonies,
    signing_keys
);
