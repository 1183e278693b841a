-- Send options: a secret message's content is erased once sent (`erased_at` says when), a
-- `source` tag groups sends for listing, and a resend names the message it repeats.
ALTER TABLE messages ADD COLUMN secret INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN erased_at INTEGER;
ALTER TABLE messages ADD COLUMN source TEXT;
ALTER TABLE messages ADD COLUMN resend_of TEXT;
-- Listing by source, newest first.
CREATE INDEX messages_source ON messages (tenant_pk, source, pk DESC) WHERE source IS NOT NULL;
