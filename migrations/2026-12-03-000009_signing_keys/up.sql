-- Asymmetric signing keys (EdDSA, ES256), shared by every instance: the newest live key signs;
-- a retired key still verifies (and stays in the JWKS) until every token it signed has expired.
-- Private keys are sealed (AES-256-GCM, key derived from JWT_REFRESH_SECRET, kid as AAD).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX signing_keys_alg ON signing_keys(alg);
