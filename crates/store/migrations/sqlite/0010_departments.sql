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

-- An installation that already has department names on accounts, items and
-- referrals keeps working: each distinct name becomes an entry (codes d1,
-- d2 …; a charity if it received referrals or has accounts as one), and a
-- department with liaison accounts keeps every feed kind, as before; the
-- administrator then completes the list (phones, feed kinds).
INSERT INTO departments (code, name, kind, phone, feed_kinds, active, version, created_at, updated_at)
SELECT 'd' || CAST(ROW_NUMBER() OVER (ORDER BY n.name) AS TEXT), n.name,
       CASE WHEN EXISTS (SELECT 1 FROM referrals r WHERE r.to_name = n.name AND r.to_kind = 'charity')
              OR EXISTS (SELECT 1 FROM users u WHERE u.department = n.name AND u.role = 'charity')
            THEN 'charity' ELSE 'department' END,
       '',
       CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.department = n.name AND u.role = 'dept_liaison')
            THEN 'medical,unemployment,disability,death,hukou,property,vehicle,business,housing_fund,utility,education,disaster'
            ELSE '' END,
       1, 1, '2026-12-03T00:00:00Z', '2026-12-03T00:00:00Z'
FROM (SELECT department AS name FROM users WHERE department IS NOT NULL AND department <> ''
      UNION SELECT department FROM case_items WHERE department <> ''
      UNION SELECT to_name FROM referrals WHERE to_name <> '') n;

-- Public notices give the town's office phone for objections (never a
-- member of staff's own number).
ALTER TABLE regions ADD COLUMN phone TEXT NOT NULL DEFAULT '';
