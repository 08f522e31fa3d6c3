-- Policies, 政策找人 and leads (issue 5); department feeds, warnings, grading and
-- visits (issue 6). Large tables carry the jurisdiction codes like households do.

CREATE TABLE policies (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  department TEXT NOT NULL,
  family TEXT NOT NULL,
  conditions TEXT NOT NULL,
  phone TEXT NOT NULL,
  target_groups TEXT NOT NULL DEFAULT '',
  situations TEXT NOT NULL DEFAULT '',
  benefit_form TEXT NOT NULL,
  receipt_key TEXT NOT NULL,
  excludes TEXT NOT NULL DEFAULT '',
  eligibility TEXT NOT NULL,
  amount TEXT NOT NULL DEFAULT '',
  self_check INTEGER NOT NULL DEFAULT 1,
  status TEXT NOT NULL DEFAULT 'active',
  effective_from TEXT NOT NULL,
  effective_to TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  updated_by TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE finder_runs (
  id INTEGER PRIMARY KEY,
  scope_code TEXT NOT NULL,
  policy_id INTEGER,
  status TEXT NOT NULL,
  total INTEGER NOT NULL DEFAULT 0,
  processed INTEGER NOT NULL DEFAULT 0,
  missed INTEGER NOT NULL DEFAULT 0,
  excessive INTEGER NOT NULL DEFAULT 0,
  duplicate INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  started_by INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  message TEXT NOT NULL DEFAULT ''
);

CREATE TABLE findings (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES finder_runs(id),
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  policy_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  reason TEXT NOT NULL,
  amount_fen INTEGER,
  lead_id INTEGER
);
CREATE INDEX findings_run ON findings(run_id, kind, village_code);

CREATE TABLE leads (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  source TEXT NOT NULL,
  kind TEXT NOT NULL,
  policy_id INTEGER,
  reason TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open',
  due_date TEXT,
  application_id INTEGER,
  created_by INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  closed_at TEXT,
  closed_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX leads_village ON leads(village_code, status);
CREATE INDEX leads_town ON leads(town_code, status);

CREATE TABLE feed_batches (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  source TEXT NOT NULL,
  channel TEXT NOT NULL,
  filename TEXT NOT NULL DEFAULT '',
  sent_by INTEGER NOT NULL,
  sent_at TEXT NOT NULL,
  total_rows INTEGER NOT NULL DEFAULT 0,
  accepted INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  unmatched INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0,
  report TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE feed_records (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  person_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  source TEXT NOT NULL,
  record_key TEXT NOT NULL,
  event_date TEXT NOT NULL,
  amount_fen INTEGER,
  attributes TEXT NOT NULL DEFAULT '{}',
  batch_id INTEGER NOT NULL REFERENCES feed_batches(id),
  received_at TEXT NOT NULL
);
CREATE UNIQUE INDEX feed_records_key ON feed_records(source, kind, record_key);
CREATE INDEX feed_records_household ON feed_records(household_id, kind, event_date);

CREATE TABLE warning_rules (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  expression TEXT NOT NULL,
  severity TEXT NOT NULL,
  verify_level TEXT NOT NULL,
  deadline_days INTEGER NOT NULL,
  cooling_days INTEGER NOT NULL,
  raises_colour TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  updated_by TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY,
  started_by TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL,
  households INTEGER NOT NULL DEFAULT 0,
  raised INTEGER NOT NULL DEFAULT 0,
  already_open INTEGER NOT NULL DEFAULT 0,
  cooling INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT ''
);

CREATE TABLE warnings (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  rule_id INTEGER NOT NULL REFERENCES warning_rules(id),
  sweep_id INTEGER,
  severity TEXT NOT NULL,
  reason TEXT NOT NULL,
  raised_on TEXT NOT NULL,
  due_date TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open',
  check_method TEXT NOT NULL DEFAULT '',
  check_findings TEXT NOT NULL DEFAULT '',
  outcome TEXT,
  outcome_note TEXT NOT NULL DEFAULT '',
  closed_by INTEGER,
  closed_on TEXT,
  lead_id INTEGER
);
CREATE INDEX warnings_village ON warnings(village_code, status, due_date);
CREATE INDEX warnings_town ON warnings(town_code, status, due_date);
CREATE INDEX warnings_county ON warnings(county_code, status, due_date);
CREATE INDEX warnings_household ON warnings(household_id, rule_id, status);
-- At most one open warning per household and rule, whatever runs the sweep.
CREATE UNIQUE INDEX warnings_one_open ON warnings(household_id, rule_id) WHERE status = 'open';

CREATE TABLE assessments (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  assessed_on TEXT NOT NULL,
  assessed_by INTEGER NOT NULL,
  score INTEGER NOT NULL,
  colour TEXT NOT NULL,
  breakdown TEXT NOT NULL,
  input TEXT NOT NULL
);
CREATE INDEX assessments_household ON assessments(household_id, assessed_on);

CREATE TABLE visits (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  visit_date TEXT NOT NULL,
  visitor_id INTEGER NOT NULL,
  visitor_name TEXT NOT NULL,
  kind TEXT NOT NULL,
  findings TEXT NOT NULL,
  needs TEXT NOT NULL DEFAULT '',
  follow_up TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE INDEX visits_household ON visits(household_id, visit_date);

CREATE TABLE helpers (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  household_id INTEGER NOT NULL,
  level TEXT NOT NULL,
  name TEXT NOT NULL,
  phone TEXT NOT NULL DEFAULT '',
  assigned_on TEXT NOT NULL,
  ended_on TEXT
);
CREATE INDEX helpers_household ON helpers(household_id);

-- The current monitoring state of a graded household: one row, rewritten on
-- every assessment, warning and visit, so inboxes and dashboards read one
-- indexed table instead of recomputing plans.
CREATE TABLE monitoring (
  household_id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  assessed_colour TEXT NOT NULL,
  colour TEXT NOT NULL,
  raised_by_warning INTEGER,
  plan_start TEXT NOT NULL,
  last_visit TEXT,
  next_visit_due TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX monitoring_village ON monitoring(village_code, next_visit_due);
CREATE INDEX monitoring_town ON monitoring(town_code, next_visit_due);
CREATE INDEX monitoring_county ON monitoring(county_code, colour);
