-- A sweep remembers where the registry stood when it started, so that the
-- next one can evaluate only the households that changed since (see
-- docs/decisions.md, "A sweep evaluates what changed").
ALTER TABLE sweeps ADD COLUMN swept_on TEXT;
ALTER TABLE sweeps ADD COLUMN feed_mark INTEGER;
ALTER TABLE sweeps ADD COLUMN audit_mark INTEGER;
ALTER TABLE sweeps ADD COLUMN household_mark INTEGER;
ALTER TABLE sweeps ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
-- 'full' (every active household) or 'changed' (only those that changed).
ALTER TABLE sweeps ADD COLUMN mode TEXT NOT NULL DEFAULT 'full';
-- Records leaving a rule window on a given day.
CREATE INDEX feed_records_event_date ON feed_records(event_date);
