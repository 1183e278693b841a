-- Version 2: webhook endpoints and deliveries.

CREATE TABLE webhooks (
    pk                        INTEGER PRIMARY KEY,
    id                        TEXT NOT NULL UNIQUE,
    tenant_pk                 INTEGER NOT NULL REFERENCES tenants (pk),
    url                       TEXT NOT NULL,
    description               TEXT,
    event_types               TEXT,    -- JSON array, NULL for all
    devices                   TEXT,    -- JSON array of device ids, NULL for all
    -- Signing needs the secret itself (an HMAC key cannot be checked against a hash).
    secret                    TEXT NOT NULL,
    previous_secret           TEXT,
    previous_expires_at       INTEGER,
    auto_reply                INTEGER NOT NULL DEFAULT 0,
    enabled                   INTEGER NOT NULL DEFAULT 1,
    disabled_reason           TEXT,
    failing_since             INTEGER,
    last_failure_at           INTEGER,
    -- The first event sequence number this endpoint may receive.
    from_seq                  INTEGER NOT NULL,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    deleted_at                INTEGER
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_pk, pk);

CREATE TABLE webhook_deliveries (
    pk                INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    webhook_pk        INTEGER NOT NULL REFERENCES webhooks (pk),
    tenant_pk         INTEGER NOT NULL,
    event_seq         INTEGER NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- Due deliveries per endpoint, in attempt order.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_pk, next_attempt_at, pk) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_pk, pk DESC);
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    pk             INTEGER PRIMARY KEY,
    delivery_pk    INTEGER NOT NULL REFERENCES webhook_deliveries (pk),
    attempt        INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    status_code    INTEGER,
    duration_ms    INTEGER NOT NULL,
    error          TEXT,
    response       TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_pk, attempt);

-- The fan-out cursor: every event up to this sequence number has its deliveries.
INSERT INTO settings (key, value) VALUES ('webhooks.fan_out_seq', (SELECT coalesce(max(seq), 0) FROM events));
