-- The body shape each webhook endpoint receives (issue 7): 'standard' ({type, timestamp,
-- data}) or a reference product's ('wablas'). Existing endpoints keep the standard shape.
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'standard';
