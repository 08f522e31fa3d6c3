-- Issue 11, defect 1: departments and organisations are a list the
-- administrator keeps, chosen from on accounts, department items and
-- referrals. Accounts, items and referrals keep the department's name (as
-- they did); the name is fixed once created, so those stay valid.
CREATE TABLE departments (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  -- department | charity (a charity receives referrals as an organisation)
  kind TEXT NOT NULL DEFAULT 'department',
  phone TEXT NOT NULL DEFAULT '',
  -- feed kinds it may send, comma-separated feed codes
  feed_kinds TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
