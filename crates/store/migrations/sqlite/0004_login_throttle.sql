-- Login throttling counters (issue 10, item 7): one row per key, where a key is
-- `acct:<username>|<source address>` or `src:<source address>`. Incremented with one
-- UPSERT inside the attempt's write transaction, so concurrent attempts count exactly.
CREATE TABLE login_throttle (
  key TEXT PRIMARY KEY,
  count INTEGER NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL
);
CREATE INDEX login_attempts_client ON login_attempts(client, at);
