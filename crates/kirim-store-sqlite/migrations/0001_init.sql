-- Kirim's schema, version 1.
-- Internal keys are INTEGER `pk`s; public ids are stored as given in a unique `id`.
-- Timestamps are INTEGER unix milliseconds (UTC); JSON is TEXT; token hashes are 32-byte BLOBs.

CREATE TABLE tenants (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    pk            INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    tenant_pk     INTEGER NOT NULL REFERENCES tenants (pk),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    hash          BLOB NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_pk, pk);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE devices (
    pk                    INTEGER PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    tenant_pk             INTEGER NOT NULL REFERENCES tenants (pk),
    name                  TEXT NOT NULL,
    connector             TEXT NOT NULL,
    status                TEXT NOT NULL,
    status_detail         TEXT,
    phone                 TEXT,
    qr_code               TEXT,
    qr_expires_at         INTEGER,
    pair_code             TEXT,
    pair_code_expires_at  INTEGER,
    settings              TEXT NOT NULL,
    connector_config      TEXT NOT NULL,
    token_hash            BLOB NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    deleted_at            INTEGER
);
-- A token identifies one live device; a deleted device's token may be reused.
CREATE UNIQUE INDEX devices_token ON devices (token_hash) WHERE deleted_at IS NULL;
CREATE INDEX devices_tenant ON devices (tenant_pk, pk);

CREATE TABLE messages (
    pk               INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    tenant_pk        INTEGER NOT NULL REFERENCES tenants (pk),
    device_pk        INTEGER NOT NULL REFERENCES devices (pk),
    direction        TEXT NOT NULL,
    chat             TEXT NOT NULL,
    sender           TEXT,
    kind             TEXT NOT NULL,
    content          TEXT NOT NULL,
    status           TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    ref_id           TEXT,
    idempotency_key  TEXT,
    request_hash     TEXT,
    network_id       TEXT,
    reply_to         TEXT,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    delivered_at     INTEGER,
    read_at          INTEGER,
    played_at        INTEGER,
    failed_at        INTEGER,
    cancelled_at     INTEGER,
    updated_at       INTEGER NOT NULL
);
-- The send queue: only pending rows, in claim order.
CREATE INDEX messages_queue ON messages (device_pk, priority DESC, pk) WHERE status = 'pending';
-- Messages on the wire (few), so recovery after a crash does not scan the table.
CREATE INDEX messages_in_flight ON messages (device_pk) WHERE status = 'sending';
CREATE UNIQUE INDEX messages_idempotency ON messages (tenant_pk, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Receipts find a message by the id the network gave it.
CREATE INDEX messages_network ON messages (device_pk, network_id) WHERE network_id IS NOT NULL;
-- A redelivered inbound message is stored once.
CREATE UNIQUE INDEX messages_inbound ON messages (device_pk, chat, coalesce(sender, ''), network_id)
    WHERE direction = 'inbound';
-- Listing, newest first.
CREATE INDEX messages_tenant ON messages (tenant_pk, pk DESC);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL,
    tenant_pk   INTEGER NOT NULL,
    device_pk   INTEGER,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_pk, seq);
CREATE INDEX events_created ON events (created_at);
