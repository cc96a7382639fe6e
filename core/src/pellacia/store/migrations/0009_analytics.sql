-- Analytics (DESIGN §8): the collector's plan per published delivery, and one
-- account snapshot per day. Post snapshots live in post_analytics (0001).

-- One row per published delivery the collector follows. A run moves next_at
-- forward in the same transaction that stores the snapshot, so a crashed run
-- resumes with what is still due and never refetches what is stored.
CREATE TABLE analytics_tracking (
    delivery_id   uuid PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    next_at       timestamptz,                 -- NULL: past the cadence, not fetched again
    last_at       timestamptz,                 -- last snapshot stored
    misses        integer     NOT NULL DEFAULT 0,  -- runs in a row the platform left it out
    removed_at    timestamptz                  -- deleted on the platform: not fetched again
);
CREATE INDEX analytics_tracking_due_idx ON analytics_tracking (next_at)
    WHERE next_at IS NOT NULL AND removed_at IS NULL;

CREATE TABLE account_analytics (
    platform     text        NOT NULL,
    account      text        NOT NULL,
    day          date        NOT NULL,              -- UTC day of the snapshot
    fetched_at   timestamptz NOT NULL,
    metrics      jsonb       NOT NULL,              -- followers, media_count, ...
    PRIMARY KEY (platform, account, day)
);

CREATE INDEX post_analytics_day_idx ON post_analytics (day);

-- Posting slots an account's posts go out at (`schedule --at next-slot`), written
-- by `analytics best-times --write`; they replace the config's `slots` for that account.
CREATE TABLE posting_slots (
    platform    text        NOT NULL,
    account     text        NOT NULL,
    slots       text[]      NOT NULL,               -- "HH:MM", local to the account's zone
    source      text        NOT NULL,               -- what chose them ("best-times views n=42")
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, account)
);
