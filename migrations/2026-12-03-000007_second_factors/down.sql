DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
