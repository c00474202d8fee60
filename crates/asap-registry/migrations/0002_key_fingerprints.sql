-- The per-user token fingerprint of each key (user_tokens::Fingerprint: the lowercase hex
-- SHA-256 of its SubjectPublicKeyInfo as PEM text), so that a per-user lookup reads the one key
-- a token names, however many keys its principal has. NULL in a row written before this
-- migration or by an older version; the registry fills those in when it opens ('' for a row
-- whose key does not parse).
ALTER TABLE asap_public_keys ADD COLUMN fingerprint TEXT;
CREATE INDEX asap_public_keys_by_fingerprint ON asap_public_keys (principal, fingerprint);

-- What a version must understand to use this database. A version refuses to open it when
-- min_reader is above its own schema level; it ignores migrations it does not know otherwise.
-- A later migration that older versions may ignore leaves min_reader alone; one they must not
-- ignore (a new rule they would not apply, a column they would write wrong) raises it.
CREATE TABLE asap_registry_schema (
    id         INTEGER PRIMARY KEY CHECK (id = 1), -- one row (and a key for replication)
    min_reader BIGINT  NOT NULL
);
INSERT INTO asap_registry_schema (id, min_reader) VALUES (1, 2);
