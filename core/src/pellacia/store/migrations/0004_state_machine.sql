-- The delivery state machine (DESIGN §3), enforced where every writer meets:
-- the allowed (from, to) pairs live in delivery_transitions, copied from
-- pellacia.store.states.TRANSITIONS each time migrations run. A state change
-- not listed there is refused; every state change writes its delivery.state
-- event in the same transaction, so no writer can forget it.

ALTER TABLE deliveries ADD COLUMN state_reason text;  -- why the last state change happened

CREATE TABLE delivery_transitions (
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    operation   text NOT NULL,
    PRIMARY KEY (from_state, to_state)
);

CREATE FUNCTION pellacia_delivery_state_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM delivery_transitions t
                   WHERE t.from_state = OLD.state AND t.to_state = NEW.state) THEN
        RAISE EXCEPTION 'delivery % may not go from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'delivery_transitions';
    END IF;
    INSERT INTO events (kind, post_id, delivery_id, payload)
    VALUES ('delivery.state', NEW.post_id, NEW.id, jsonb_strip_nulls(jsonb_build_object(
        'from', OLD.state,
        'to', NEW.state,
        'worker', COALESCE(NEW.lease_owner, OLD.lease_owner),
        'reason', NEW.state_reason,
        'layer', NEW.layer,
        'remote_id', CASE WHEN NEW.state = 'published' THEN NEW.remote_id END,
        'url', CASE WHEN NEW.state = 'published' THEN NEW.remote_url END,
        'due_at', CASE WHEN NEW.state = 'retry_wait' THEN NEW.due_at END)));
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_state_change
    AFTER UPDATE OF state ON deliveries
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION pellacia_delivery_state_change();

-- A new delivery's first event (its creation is a change of state too).
CREATE FUNCTION pellacia_delivery_created() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, post_id, delivery_id, payload)
    VALUES ('delivery.state', NEW.post_id, NEW.id,
            jsonb_build_object('from', NULL, 'to', NEW.state, 'platform', NEW.platform,
                               'account', NEW.account));
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_created
    AFTER INSERT ON deliveries
    FOR EACH ROW
    EXECUTE FUNCTION pellacia_delivery_created();

-- Deleting a delivery (queue clear) leaves its trace in the outbox.
CREATE FUNCTION pellacia_delivery_cleared() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, post_id, delivery_id, payload)
    VALUES ('delivery.cleared', OLD.post_id, OLD.id,
            jsonb_build_object('state', OLD.state, 'platform', OLD.platform,
                               'account', OLD.account));
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_cleared
    AFTER DELETE ON deliveries
    FOR EACH ROW
    EXECUTE FUNCTION pellacia_delivery_cleared();
