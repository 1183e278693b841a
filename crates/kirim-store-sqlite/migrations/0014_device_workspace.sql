-- A label grouping a tenant's devices (wa-gateway's workspaces, issue 7): listed and
-- filtered by; NULL for none.
ALTER TABLE devices ADD COLUMN workspace TEXT;
