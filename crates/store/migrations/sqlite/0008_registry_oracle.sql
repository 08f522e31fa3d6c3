-- Issue 10, item 5: no registration oracle.
-- Department records whose ID number matches nobody in the registry are kept
-- here (not reported back as "not in the registry") and are matched when the
-- person is registered. The same (source, kind, record key) is one record,
-- whether pending or matched.
CREATE TABLE feed_pending (
  id INTEGER PRIMARY KEY,
  id_number TEXT NOT NULL,
  kind TEXT NOT NULL,
  source TEXT NOT NULL,
  record_key TEXT NOT NULL,
  event_date TEXT NOT NULL,
  amount_fen INTEGER,
  attributes TEXT NOT NULL DEFAULT '{}',
  batch_id INTEGER NOT NULL REFERENCES feed_batches(id),
  received_at TEXT NOT NULL
);
CREATE UNIQUE INDEX feed_pending_key ON feed_pending(source, kind, record_key);
CREATE INDEX feed_pending_id_number ON feed_pending(id_number);

-- Answers "this ID number is already registered elsewhere" are counted per
-- account from the audit log (rate limit).
CREATE INDEX audit_log_user_action ON audit_log(user_id, action, at);
