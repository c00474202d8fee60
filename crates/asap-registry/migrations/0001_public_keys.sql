-- Public keys of principals; kid = principal || '/' || key_name.
-- Written in the SQL that SQLite and PostgreSQL both accept: one set of migrations for both.
CREATE TABLE asap_public_keys (
    principal  TEXT   NOT NULL,
    key_name   TEXT   NOT NULL,
    public_key TEXT   NOT NULL, -- SubjectPublicKeyInfo, PEM
    algorithm  TEXT   NOT NULL, -- key kind: RSA, EC P-256, EC P-384, EC P-521, Ed25519
    created_at BIGINT NOT NULL, -- seconds since the Unix epoch
    revoked_at BIGINT,          -- NULL while active
    PRIMARY KEY (principal, key_name)
);
