-- The per-user token fingerprint of each key (user_tokens::Fingerprint: the lowercase hex
-- SHA-256 of its SubjectPublicKeyInfo as PEM text), so that a per-user lookup reads the one key
-- a token names, however many keys its principal has. NULL in a row written before this
-- migration or by an older version; the registry fills those in when it opens.
ALTER TABLE asap_public_keys ADD COLUMN fingerprint TEXT;
CREATE INDEX asap_public_keys_by_fingerprint ON asap_public_keys (principal, fingerprint);
