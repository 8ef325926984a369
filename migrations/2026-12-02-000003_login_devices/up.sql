-- Devices that have signed in to an account before (OWASP "device cookies"): a client carrying
-- one is throttled by its own failures only, so a stranger cannot lock the owner out.
CREATE TABLE login_devices (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    last_failed_login_at BIGINT,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (id, user_id)
);
CREATE INDEX login_devices_user_id ON login_devices(user_id);
