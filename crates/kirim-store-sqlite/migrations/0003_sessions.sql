-- Version 3: connectors' session state (WhatsApp Web's keys and sync state), per device.

CREATE TABLE device_sessions (
    device_pk  INTEGER NOT NULL REFERENCES devices (pk),
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (device_pk, namespace, key)
) WITHOUT ROWID;
