-- Delivery (DESIGN §4): upload progress for `upload --wait` and `queue status`,
-- cancel requests for deliveries in flight, and the intake duplicate check.

ALTER TABLE deliveries
    ADD COLUMN bytes_sent        bigint,                      -- last acknowledged byte count
    ADD COLUMN bytes_total       bigint,
    ADD COLUMN cancel_requested  boolean NOT NULL DEFAULT false;  -- honoured at the next checkpoint

-- Same file + title submitted again within a short window is refused.
CREATE INDEX posts_sha256_idx ON posts (video_sha256, created_at);
