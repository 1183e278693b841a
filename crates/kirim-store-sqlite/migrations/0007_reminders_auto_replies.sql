-- Reminders: a message repeated on a calendar. `next_index` / `next_at` are the cursor: the
-- worker turns the due occurrence into a message and moves the cursor in one transaction.
CREATE TABLE reminders (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_pk INTEGER NOT NULL REFERENCES tenants (pk),
    device_pk INTEGER NOT NULL REFERENCES devices (pk),
    title TEXT,
    chat TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    start_local TEXT NOT NULL,
    timezone TEXT NOT NULL,
    recurrence TEXT NOT NULL,
    every_days INTEGER,
    until_date TEXT,
    max_count INTEGER,
    status TEXT NOT NULL,
    next_index INTEGER NOT NULL,
    next_at INTEGER,
    sent_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX reminders_tenant ON reminders (tenant_pk, pk);
CREATE INDEX reminders_due ON reminders (next_at) WHERE status = 'active';

-- One row per occurrence made: its message, or why it was skipped. The message may be
-- deleted later (a cancelled occurrence); the row stays.
-- `idx` is the occurrence's number in the plan; a changed plan numbers from its own start.
CREATE TABLE reminder_occurrences (
    pk INTEGER PRIMARY KEY,
    reminder_pk INTEGER NOT NULL REFERENCES reminders (pk) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    message_pk INTEGER,
    message_id TEXT,
    skipped TEXT
);
CREATE INDEX reminder_occurrences_reminder ON reminder_occurrences (reminder_pk, pk);
CREATE INDEX reminder_occurrences_message ON reminder_occurrences (message_pk) WHERE message_pk IS NOT NULL;

-- Auto-reply rules, per device (device_pk) or tenant-wide (NULL).
CREATE TABLE auto_replies (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_pk INTEGER NOT NULL REFERENCES tenants (pk),
    device_pk INTEGER REFERENCES devices (pk),
    keyword TEXT,
    match_kind TEXT NOT NULL,
    kind TEXT NOT NULL,
    reply TEXT NOT NULL,
    groups INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    cooldown_secs INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX auto_replies_tenant ON auto_replies (tenant_pk, pk);

-- Replies queued by rules: the per-chat limit reads the newest, and a reply arriving at
-- another device of this server is recognised by its id.
CREATE TABLE auto_reply_log (
    message_id TEXT PRIMARY KEY,
    tenant_pk INTEGER NOT NULL,
    rule_pk INTEGER NOT NULL,
    device_pk INTEGER NOT NULL,
    chat TEXT NOT NULL,
    inbound_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX auto_reply_log_chat ON auto_reply_log (device_pk, chat, created_at);
