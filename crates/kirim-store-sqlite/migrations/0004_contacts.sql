-- Version 4: the address book. Contacts, contact groups (broadcast lists) and their members,
-- the blacklist, and each tenant's opt-out settings.

CREATE TABLE contacts (
    pk           INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    tenant_pk    INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    phone        TEXT NOT NULL,     -- E.164
    name         TEXT NOT NULL,
    email        TEXT,
    address      TEXT,
    birthday     TEXT,              -- YYYY-MM-DD
    custom       TEXT NOT NULL,     -- JSON object of strings
    -- Lowercased name, phone digits and email, one per line, written by the store: searches are
    -- substring matches (instr), which no B-tree index serves, so they scan the tenant's rows
    -- through contacts_tenant; lowercasing in Rust makes them case-insensitive beyond ASCII.
    search_text  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- One contact per number and tenant; also the lookup by phone (updates and deletes by number).
CREATE UNIQUE INDEX contacts_phone ON contacts (tenant_pk, phone);
-- Lists are ordered by id (time-ordered): a cursor is an id, and outlives its contact.
CREATE INDEX contacts_tenant ON contacts (tenant_pk, id);

CREATE TABLE contact_groups (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    tenant_pk   INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- Groups are found by name too (the reference APIs name them so), ignoring ASCII case.
CREATE UNIQUE INDEX contact_groups_name ON contact_groups (tenant_pk, name COLLATE NOCASE);
CREATE INDEX contact_groups_tenant ON contact_groups (tenant_pk, id);

CREATE TABLE contact_group_members (
    group_pk    INTEGER NOT NULL REFERENCES contact_groups (pk) ON DELETE CASCADE,
    contact_pk  INTEGER NOT NULL REFERENCES contacts (pk) ON DELETE CASCADE,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (group_pk, contact_pk)
) WITHOUT ROWID;
-- Deleting a contact finds its memberships.
CREATE INDEX contact_group_members_contact ON contact_group_members (contact_pk);

CREATE TABLE blacklist (
    pk          INTEGER PRIMARY KEY,
    tenant_pk   INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    phone       TEXT NOT NULL,     -- E.164
    reason      TEXT,
    created_at  INTEGER NOT NULL
);
-- The check before every send, and the list's order.
CREATE UNIQUE INDEX blacklist_phone ON blacklist (tenant_pk, phone);

CREATE TABLE blacklist_settings (
    tenant_pk         INTEGER PRIMARY KEY REFERENCES tenants (pk) ON DELETE CASCADE,
    opt_out_keywords  TEXT NOT NULL,   -- JSON array of strings
    confirmation      TEXT,
    updated_at        INTEGER NOT NULL
);
