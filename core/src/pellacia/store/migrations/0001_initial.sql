-- pellacia-dist core schema (DESIGN §3). PostgreSQL >= 14.
-- One post = the content; one delivery per (post, platform, account) with its
-- own fate; every try audited; analytics one snapshot per delivery per day.

CREATE TABLE posts (
    id              uuid PRIMARY KEY,
    video_path      text        NOT NULL,
    video_sha256    text        NOT NULL,
    video_size      bigint      NOT NULL CHECK (video_size > 0),
    media           jsonb       NOT NULL,           -- the media probe's findings
    title           text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    hashtags        text[]      NOT NULL DEFAULT '{}',
    overrides       jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- {platform: {option: value}}
    priority        text        NOT NULL DEFAULT 'normal' CHECK (priority IN ('normal', 'breaking')),
    scheduled_at    timestamptz,                     -- NULL: as soon as allowed
    timezone        text,                            -- the IANA zone the user named
    is_test         boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    post_id          uuid        NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    platform         text        NOT NULL,
    account          text        NOT NULL DEFAULT 'default',
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN (
                         'pending', 'ready', 'claimed', 'uploading', 'publishing', 'published',
                         'retry_wait', 'suspended', 'failed', 'manual', 'cancelled')),
    priority         smallint    NOT NULL DEFAULT 0,  -- 1 = breaking; claimed first
    due_at           timestamptz NOT NULL,            -- not dispatched before this
    wait_reason      text,                            -- why it is not out yet (spacing, quota:..., rate-limit)
    attempts         integer     NOT NULL DEFAULT 0,
    layer_index      integer     NOT NULL DEFAULT 0,  -- position in the fallback chain
    layer            text,
    route            text,
    lease_owner      text,
    lease_until      timestamptz,
    upload_state     jsonb,                           -- resumable state, saved after every chunk
    receipt          jsonb,                           -- UploadReceipt once the bytes are in
    remote_id        text,
    remote_url       text,
    published_at     timestamptz,
    idempotency_key  text        NOT NULL UNIQUE,
    outcome_unknown  boolean     NOT NULL DEFAULT false,
    last_error       text,
    last_error_class text,
    manual_package   text,                            -- path of the export package
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (post_id, platform, account),
    CHECK (state <> 'published' OR remote_id IS NOT NULL)
);

-- The claim query: dispatchable rows in (priority, due time) order.
CREATE INDEX deliveries_dispatch_idx ON deliveries (priority DESC, due_at)
    WHERE state IN ('pending', 'ready', 'retry_wait', 'suspended');
-- The lease sweep.
CREATE INDEX deliveries_lease_idx ON deliveries (lease_until)
    WHERE state IN ('claimed', 'uploading', 'publishing');
-- Spacing and status per (platform, account).
CREATE INDEX deliveries_account_idx ON deliveries (platform, account, state);
CREATE INDEX deliveries_post_idx ON deliveries (post_id);

CREATE TABLE delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    layer        text        NOT NULL,
    route        text,
    worker       text,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    outcome      text,        -- published | error | suspended | interrupted
    error_class  text,
    error        text,
    bytes_sent   bigint
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);

CREATE TABLE post_analytics (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    day          date        NOT NULL,                -- UTC day of the snapshot
    fetched_at   timestamptz NOT NULL DEFAULT now(),
    metrics      jsonb       NOT NULL,                -- unified vocabulary
    raw          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (delivery_id, day)
);

CREATE TABLE credentials (
    platform            text        NOT NULL,
    account             text        NOT NULL,
    key_id              text        NOT NULL,         -- which key sealed it (for rotation)
    ciphertext          bytea       NOT NULL,         -- AES-GCM; never plaintext
    expires_at          timestamptz,                  -- not secret: drives the refresh timer
    refresh_expires_at  timestamptz,
    scopes              text[]      NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, account)
);

-- Durable outbox: every state change, feeding webhooks and alerts.
CREATE TABLE events (
    id             bigserial PRIMARY KEY,
    kind           text        NOT NULL,              -- delivery.state, alert, ...
    post_id        uuid,
    delivery_id    uuid,
    payload        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_at  timestamptz
);
CREATE INDEX events_pending_idx ON events (id) WHERE dispatched_at IS NULL;
CREATE INDEX events_delivery_idx ON events (delivery_id, id);

-- Shared budgets so N workers on N machines respect one quota.
CREATE TABLE rate_limits (
    bucket         text PRIMARY KEY,                  -- e.g. youtube:daily-units:default
    used           bigint      NOT NULL DEFAULT 0,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz,
    blocked_until  timestamptz,                       -- an announced reset
    reason         text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
