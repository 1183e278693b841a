-- Scheduled messages: `scheduled` rows wait outside the send queue's index until their time
-- (`next_attempt_at`), so a device with thousands of messages for tomorrow claims today's
-- as fast as ever.
ALTER TABLE messages ADD COLUMN scheduled_at INTEGER;
ALTER TABLE messages ADD COLUMN timezone TEXT;
CREATE INDEX messages_scheduled ON messages (next_attempt_at) WHERE status = 'scheduled';
