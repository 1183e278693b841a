-- Usage tokens and device limits (issue 6, parts 3 and 5).
-- A tenant's daily token budget (NULL: unlimited); a device's quota (messages left, NULL:
-- unlimited) and expiry. Tenants that existed before this migration are unlimited.
ALTER TABLE tenants ADD COLUMN daily_token_limit INTEGER;
ALTER TABLE devices ADD COLUMN quota INTEGER;
ALTER TABLE devices ADD COLUMN expires_at INTEGER;

-- What each outbound message was charged when it was accepted, so that a cancel or a
-- permanent failure gives exactly that back: tokens to the day they were charged to, and
-- the quota unit to the device.
ALTER TABLE messages ADD COLUMN usage_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN usage_day INTEGER;
ALTER TABLE messages ADD COLUMN quota_used INTEGER NOT NULL DEFAULT 0;

-- One row per tenant and UTC day (days since 1970-01-01) with any use. The day's use is
-- charged - refunded; the writer checks and debits it in the transaction of the insert.
CREATE TABLE token_usage (
    tenant_pk  INTEGER NOT NULL REFERENCES tenants (pk),
    day        INTEGER NOT NULL,
    charged    INTEGER NOT NULL DEFAULT 0,
    refunded   INTEGER NOT NULL DEFAULT 0,
    messages   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_pk, day)
) WITHOUT ROWID;

-- Refunds run in the transaction of whatever statement ends a message (a cancel, a
-- permanent failure, a deleted device's queue, a bulk cancel): no code path can forget one.
CREATE TRIGGER usage_refund AFTER UPDATE OF status ON messages
WHEN NEW.status IN ('cancelled', 'failed') AND OLD.status NOT IN ('cancelled', 'failed')
    AND (NEW.usage_tokens > 0 OR NEW.quota_used = 1)
BEGIN
    UPDATE token_usage SET refunded = refunded + NEW.usage_tokens
        WHERE NEW.usage_tokens > 0 AND tenant_pk = NEW.tenant_pk AND day = NEW.usage_day;
    UPDATE devices SET quota = quota + 1 WHERE NEW.quota_used = 1 AND pk = NEW.device_pk AND quota IS NOT NULL;
END;

-- A message that was given up and then turns out to have been sent (a late receipt) is
-- charged again, so a refund never outlives the message it was for.
CREATE TRIGGER usage_recharge AFTER UPDATE OF status ON messages
WHEN OLD.status IN ('cancelled', 'failed') AND NEW.status NOT IN ('cancelled', 'failed')
    AND (NEW.usage_tokens > 0 OR NEW.quota_used = 1)
BEGIN
    UPDATE token_usage SET refunded = max(refunded - NEW.usage_tokens, 0)
        WHERE NEW.usage_tokens > 0 AND tenant_pk = NEW.tenant_pk AND day = NEW.usage_day;
    UPDATE devices SET quota = max(quota - 1, 0) WHERE NEW.quota_used = 1 AND pk = NEW.device_pk AND quota IS NOT NULL;
END;
