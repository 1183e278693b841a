-- Version 8: reports, agents and conversations.

-- Reports read a tenant's messages by creation time (a day, today, a date range). Creation
-- times only grow, so new rows land at the right-hand edge of this index: one more cheap
-- append per message on the accept path, and no index on anything a status change rewrites.
CREATE INDEX messages_report ON messages (tenant_pk, created_at);

-- A tenant's users who answer chats.
CREATE TABLE agents (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    tenant_pk   INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    email       TEXT,               -- lowercased
    phone       TEXT,               -- E.164
    active      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- An agent is found by email or number too (the reference APIs name agents so).
CREATE UNIQUE INDEX agents_email ON agents (tenant_pk, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX agents_phone ON agents (tenant_pk, phone) WHERE phone IS NOT NULL;
CREATE INDEX agents_tenant ON agents (tenant_pk, id);

-- A conversation is one chat of one device. Its row is written by inbound messages (the chat
-- wrote to the device), by sends that reach a chat that has a row, and by assignment; never
-- by the accept path, so queueing a message costs nothing here.
CREATE TABLE conversations (
    pk               INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    tenant_pk        INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    device_pk        INTEGER NOT NULL REFERENCES devices (pk),
    chat             TEXT NOT NULL,
    agent_pk         INTEGER REFERENCES agents (pk),
    assigned_at      INTEGER,
    last_message_pk  INTEGER NOT NULL,
    last_message_at  INTEGER NOT NULL,
    inbound_count    INTEGER NOT NULL,
    -- Inbound messages since the device last sent to the chat: what waits for an answer.
    unread_count     INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX conversations_chat ON conversations (device_pk, chat);
-- The list: most recent activity first.
CREATE INDEX conversations_recent ON conversations (tenant_pk, last_message_at DESC, pk DESC);
CREATE INDEX conversations_agent ON conversations (agent_pk) WHERE agent_pk IS NOT NULL;
