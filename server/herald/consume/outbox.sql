-- Herald's transactional outbox (docs/consumers.md). Run it once in the product's PostgreSQL database.
-- A producer inserts one row per notification inside its own transaction: Herald sees the row only if
-- that transaction commits, so the notification goes out if and only if the change it announces happened.
CREATE TABLE IF NOT EXISTS herald_outbox (
    id         bigserial   PRIMARY KEY,
    -- Ordering key, e.g. the recipient's user id: rows of one key are published in id order.
    -- NULL: no order needed (each row on its own).
    key        text,
    -- The publish request of POST /api/publish ({"to": {"users": [...]}, "type": ..., "title": ...}).
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS herald_outbox_key_id ON herald_outbox (key, id);

-- Wakes Herald as soon as a transaction that inserted rows commits (it polls too, in case one is missed).
CREATE OR REPLACE FUNCTION herald_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_outbox', TG_TABLE_NAME);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS herald_outbox_notify ON herald_outbox;
CREATE TRIGGER herald_outbox_notify AFTER INSERT ON herald_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION herald_outbox_notify();
