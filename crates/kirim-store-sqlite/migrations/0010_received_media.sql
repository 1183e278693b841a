-- Version 10: files in inbound messages. The network's reference stays in the message's content;
-- this maps the `media_id` Kirim gave the file to that message, until (and after) the file is
-- downloaded on demand into `media`. Written in the transaction that stores the message.

CREATE TABLE received_media (
    media_id    TEXT PRIMARY KEY,
    tenant_pk   INTEGER NOT NULL REFERENCES tenants (pk) ON DELETE CASCADE,
    message_pk  INTEGER NOT NULL REFERENCES messages (pk) ON DELETE CASCADE
);
