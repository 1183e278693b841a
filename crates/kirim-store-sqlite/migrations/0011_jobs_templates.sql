-- Field jobs (reference 000). `number` is per tenant, what the worker types (J12). The
-- state columns (status, previous_status, delay_until, arrived_at, started_at, done_at) are
-- written together, guarded by their old values, so a reply and an ending delay never race.
CREATE TABLE jobs (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_pk INTEGER NOT NULL REFERENCES tenants (pk),
    number INTEGER NOT NULL,
    device_pk INTEGER NOT NULL REFERENCES devices (pk),
    worker TEXT NOT NULL,
    client_name TEXT NOT NULL,
    task TEXT NOT NULL,
    location TEXT NOT NULL,
    map_link TEXT,
    scheduled_for INTEGER,
    notes TEXT,
    status TEXT NOT NULL,
    previous_status TEXT,
    delay_until INTEGER,
    arrived_at INTEGER,
    started_at INTEGER,
    done_at INTEGER,
    dispatch_message_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX jobs_number ON jobs (tenant_pk, number);
CREATE INDEX jobs_tenant ON jobs (tenant_pk, id);
CREATE INDEX jobs_status ON jobs (tenant_pk, status, id);
CREATE INDEX jobs_worker ON jobs (tenant_pk, worker, id);
CREATE INDEX jobs_delayed ON jobs (delay_until) WHERE status = 'DELAYED';

-- Everything that happened to a job, in order. `message_id` is a message Kirim sent about
-- it (dispatch, confirmation, template), `inbound_id` the worker's message it records: both
-- find the job a quoted reply refers to, and `inbound_id` makes a repeated delivery a no-op.
CREATE TABLE job_timeline (
    pk INTEGER PRIMARY KEY,
    job_pk INTEGER NOT NULL REFERENCES jobs (pk),
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    text TEXT,
    media_id TEXT,
    message_id TEXT,
    inbound_id TEXT,
    detail TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX job_timeline_job ON job_timeline (job_pk, pk);
CREATE INDEX job_timeline_message ON job_timeline (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX job_timeline_inbound ON job_timeline (inbound_id) WHERE inbound_id IS NOT NULL;

-- Message templates (reference 003): named variables live in the body as {{name}}.
CREATE TABLE templates (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_pk INTEGER NOT NULL REFERENCES tenants (pk),
    name TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX templates_name ON templates (tenant_pk, name, language);
CREATE INDEX templates_tenant ON templates (tenant_pk, id);
