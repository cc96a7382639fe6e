-- REST API: API keys (only their hash is kept) and idempotency keys of post creation.

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    name          text        NOT NULL,
    prefix        text        NOT NULL UNIQUE,        -- shown in listings; finds the row
    key_hash      text        NOT NULL,               -- sha256 of the whole key
    scopes        text[]      NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'admin']),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- One row per Idempotency-Key of POST /v1/posts: the same key and body give
-- the same post back, the same key with another body is refused.
CREATE TABLE api_idempotency (
    api_key_id    uuid        NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    post_id       uuid        NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    response      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, key)
);
