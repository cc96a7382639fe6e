-- Queue cost flat as the queue grows (DESIGN §11): the claim and next-due
-- queries select account-first (one slot row per (platform, account), then
-- that account's first due delivery through an index) instead of walking
-- every due delivery in (priority, due) order.

-- The first dispatchable delivery of one account, breaking before normal,
-- then by due time; also answers "is breaking news pending on this account".
CREATE INDEX deliveries_account_dispatch_idx
    ON deliveries (platform, account, priority DESC, due_at)
    WHERE state IN ('pending', 'ready', 'retry_wait', 'suspended');

-- "Is a delivery in flight on this account": a probe per account, whatever
-- the number of deliveries in flight elsewhere.
CREATE INDEX deliveries_in_flight_idx ON deliveries (platform, account, priority)
    WHERE state IN ('claimed', 'uploading', 'publishing');

-- Deliveries coming back after a dispatch (retry, released lease, resume):
-- the slot owner among them may go inside its own spacing window. Few rows.
CREATE INDEX deliveries_returning_idx ON deliveries (due_at)
    WHERE dispatched_at IS NOT NULL AND priority = 0
      AND state IN ('pending', 'ready', 'retry_wait', 'suspended');

-- Accounts whose spacing window is over (the claim) or ends next (next due).
CREATE INDEX account_slots_next_idx ON account_slots ((COALESCE(next_at, '-infinity')));

-- Every (platform, account) with a delivery has its slot row, whatever
-- inserted the delivery (intake, tests, COPY): the claim only looks there.
CREATE FUNCTION pellacia_slot_for_new_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_slots (platform, account)
    SELECT DISTINCT platform, account FROM new_deliveries
    ORDER BY platform, account
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_slot_insert
    AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_deliveries
    FOR EACH STATEMENT
    EXECUTE FUNCTION pellacia_slot_for_new_deliveries();

INSERT INTO account_slots (platform, account)
SELECT DISTINCT platform, account FROM deliveries
ON CONFLICT DO NOTHING;
