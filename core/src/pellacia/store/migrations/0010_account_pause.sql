-- Account pause (DESIGN §10): an operator holds an account back. The pause
-- lives on the account's slot row, which the claim already reads, so it
-- costs nothing per delivery. paused_until NULL: not paused; 'infinity':
-- paused until resumed.
ALTER TABLE account_slots
    ADD COLUMN paused_until timestamptz,
    ADD COLUMN pause_reason text,
    ADD COLUMN paused_by    text,
    ADD COLUMN paused_at    timestamptz;

-- The few paused accounts, for next-due and status reads.
CREATE INDEX account_slots_paused_idx ON account_slots (paused_until)
    WHERE paused_until IS NOT NULL;
