-- Webhooks fed from the events outbox, and the folder intake's ledger.

CREATE TABLE webhooks (
    id               uuid PRIMARY KEY,
    url              text        NOT NULL,
    secret           text        NOT NULL,            -- whsec_...: signs every message
    events           text[]      NOT NULL DEFAULT '{}',  -- types or 'prefix.*'; empty = all
    created_at       timestamptz NOT NULL DEFAULT now(),
    failing_since    timestamptz,                     -- first failure of the current streak
    disabled_at      timestamptz,
    disabled_reason  text
);

-- One row per (webhook, event): the fan-out of the outbox, retried until delivered.
CREATE TABLE webhook_messages (
    webhook_id    uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id      bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    type          text        NOT NULL,
    ordering_key  text        NOT NULL,               -- delivery (or post) id: sent in order
    attempts      integer     NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    last_status   integer,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    expired_at    timestamptz,                        -- gave up (retry window over)
    PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX webhook_messages_open ON webhook_messages (webhook_id, ordering_key, event_id)
    WHERE delivered_at IS NULL AND expired_at IS NULL;

-- How far the fan-out has read the outbox (it re-reads a window behind it, so
-- an event committed late is still picked up).
CREATE TABLE webhook_cursor (
    id             integer PRIMARY KEY CHECK (id = 1),
    last_event_id  bigint NOT NULL
);
INSERT INTO webhook_cursor VALUES (1, 0);

-- Each (folder, file name, content) submitted once, across restarts.
CREATE TABLE intake_items (
    folder        text        NOT NULL,
    name          text        NOT NULL,               -- the item's stem: clip for clip.mp4
    sha256        text        NOT NULL,               -- of the video and its JSON together
    state         text        NOT NULL CHECK (state IN ('seen', 'submitted', 'rejected')),
    post_id       uuid        REFERENCES posts (id) ON DELETE SET NULL,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (folder, name, sha256)
);
