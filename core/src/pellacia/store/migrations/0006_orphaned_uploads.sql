-- `queue status` counts remote upload sessions given up for a new one
-- (delivery.upload_orphaned events): a small partial index keeps that count
-- from reading the whole outbox.
CREATE INDEX events_orphaned_upload_idx ON events (id) WHERE kind = 'delivery.upload_orphaned';
