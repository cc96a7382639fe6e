-- Scheduling (DESIGN §3-§4): per-account spacing slots, quota usage for rolling
-- windows, wait bookkeeping on deliveries, and wake-up notifications.

-- One row per (platform, account): when the next normal post may go out.
-- Claimers lock this row, so two workers never dispatch one account inside
-- its interval; the in-flight check is re-read after taking the lock.
CREATE TABLE account_slots (
    platform          text        NOT NULL,
    account           text        NOT NULL,
    next_at           timestamptz,             -- NULL: free now
    owner_delivery    uuid,                    -- the delivery that took the current slot
    last_dispatch_at  timestamptz,
    breaking_next_at  timestamptz,             -- floor between two breaking posts
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, account)
);

-- Reservations in rolling quota windows (fixed-reset windows only use rate_limits).
CREATE TABLE rate_limit_usage (
    id           bigserial PRIMARY KEY,
    bucket       text        NOT NULL,
    at           timestamptz NOT NULL,
    cost         integer     NOT NULL,
    delivery_id  uuid
);
CREATE INDEX rate_limit_usage_bucket_idx ON rate_limit_usage (bucket, at);

ALTER TABLE deliveries
    ADD COLUMN wait_until      timestamptz,                    -- when a waiting delivery can go
    ADD COLUMN quota_reserved  boolean     NOT NULL DEFAULT false,
    ADD COLUMN dispatched_at   timestamptz;                    -- first claim

-- Wake idle workers whenever something may have become claimable: a delivery
-- inserted or made dispatchable (retry scheduled, lease released, resumed),
-- or an in-flight one finished (its account is free again). PostgreSQL folds
-- identical notifications of one transaction into one, delivered at commit.
CREATE FUNCTION pellacia_queue_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pellacia_queue', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_queue_insert_notify
    AFTER INSERT ON deliveries
    FOR EACH ROW
    WHEN (NEW.state IN ('pending', 'ready', 'retry_wait', 'suspended'))
    EXECUTE FUNCTION pellacia_queue_notify();

CREATE TRIGGER deliveries_queue_update_notify
    AFTER UPDATE OF state, due_at ON deliveries
    FOR EACH ROW
    WHEN (
        (NEW.state IN ('pending', 'ready', 'retry_wait', 'suspended')
            AND (OLD.state IS DISTINCT FROM NEW.state OR OLD.due_at IS DISTINCT FROM NEW.due_at))
        OR (OLD.state IN ('claimed', 'uploading', 'publishing')
            AND NEW.state NOT IN ('claimed', 'uploading', 'publishing'))
    )
    EXECUTE FUNCTION pellacia_queue_notify();
