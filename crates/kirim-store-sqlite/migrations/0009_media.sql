-- Version 6: stored media files. The bytes live in <data_dir>/media, named by the id; a row
-- is written only after its file is safely on disk, so a row never names a missing file.

CREATE TABLE media (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    tenant_pk   INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    kind        TEXT NOT NULL,     -- image, video, audio, document, sticker
    direction   TEXT NOT NULL,     -- upload, fetched, inbound
    mime_type   TEXT NOT NULL,
    filename    TEXT,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,     -- lowercase hex, checked on every read
    created_at  INTEGER NOT NULL
);
-- Lists are ordered by id (time-ordered), per tenant.
CREATE INDEX media_tenant ON media (tenant_pk, id);
