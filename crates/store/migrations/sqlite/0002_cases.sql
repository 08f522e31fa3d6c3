-- Cases: applications (one window), their assistance items (each running a workflow),
-- signed steps, attachments, referrals, public notices, objections, the assistance
-- ledger, and loaded working-day calendars. Keep in step with ../postgresql/0002_cases.sql.
CREATE TABLE calendar_years (
  year INTEGER PRIMARY KEY,
  json TEXT NOT NULL,
  loaded_by TEXT NOT NULL,
  loaded_at TEXT NOT NULL
);

CREATE TABLE applications (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  applicant_person_id INTEGER REFERENCES persons(id),
  proxy_name TEXT NOT NULL DEFAULT '',
  channel TEXT NOT NULL,
  situation TEXT NOT NULL,
  separate_registration INTEGER NOT NULL DEFAULT 0,
  created_by INTEGER NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL
);
CREATE INDEX applications_town ON applications(town_code, id);
CREATE INDEX applications_household ON applications(household_id);

CREATE TABLE case_items (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  application_id INTEGER NOT NULL REFERENCES applications(id),
  household_id INTEGER NOT NULL REFERENCES households(id),
  kind TEXT NOT NULL,
  department TEXT NOT NULL DEFAULT '',
  step TEXT,
  step_role TEXT,
  outcome TEXT,
  step_started TEXT NOT NULL,
  step_due TEXT NOT NULL,
  item_started TEXT NOT NULL,
  item_due TEXT,
  ended_on TEXT,
  flags TEXT NOT NULL DEFAULT '',
  amount_fen INTEGER,
  state_json TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  updated_at TEXT NOT NULL
);
CREATE INDEX case_items_inbox ON case_items(step_role, county_code, step_due);
CREATE INDEX case_items_town ON case_items(town_code, step_due);
-- Overdue lists of a district or a village, soonest deadline first.
CREATE INDEX case_items_county_due ON case_items(county_code, step_due);
CREATE INDEX case_items_village_due ON case_items(village_code, step_due);
CREATE INDEX case_items_household ON case_items(household_id);
CREATE INDEX case_items_application ON case_items(application_id);

CREATE TABLE case_steps (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  item_id INTEGER NOT NULL REFERENCES case_items(id),
  step TEXT NOT NULL,
  action TEXT NOT NULL,
  to_step TEXT,
  acted_on TEXT NOT NULL,
  user_id INTEGER REFERENCES users(id),
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  signatures TEXT NOT NULL DEFAULT '',
  opinion TEXT NOT NULL DEFAULT '',
  amount_fen INTEGER,
  at TEXT NOT NULL
);
CREATE INDEX case_steps_item ON case_steps(item_id, id);

CREATE TABLE attachments (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  application_id INTEGER NOT NULL REFERENCES applications(id),
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  uploaded_by INTEGER NOT NULL REFERENCES users(id),
  uploaded_at TEXT NOT NULL
);
CREATE INDEX attachments_application ON attachments(application_id);

CREATE TABLE referrals (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  item_id INTEGER REFERENCES case_items(id),
  to_kind TEXT NOT NULL,
  to_name TEXT NOT NULL,
  facts TEXT NOT NULL,
  consent_by TEXT NOT NULL,
  consent_on TEXT NOT NULL,
  status TEXT NOT NULL,
  due_on TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT '',
  amount_fen INTEGER,
  sent_by INTEGER NOT NULL REFERENCES users(id),
  sent_at TEXT NOT NULL,
  handled_by INTEGER REFERENCES users(id),
  handled_at TEXT,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX referrals_to ON referrals(to_name, status, due_on);
CREATE INDEX referrals_town ON referrals(town_code, status);

CREATE TABLE notices (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  item_id INTEGER NOT NULL REFERENCES case_items(id),
  kind TEXT NOT NULL,
  title TEXT NOT NULL,
  masked_name TEXT NOT NULL,
  household_size INTEGER NOT NULL,
  item_label TEXT NOT NULL,
  amount_fen INTEGER,
  reason TEXT NOT NULL DEFAULT '',
  start_date TEXT NOT NULL,
  end_date TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX notices_village ON notices(village_code, start_date);
CREATE INDEX notices_status ON notices(status, end_date);

CREATE TABLE objections (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  notice_id INTEGER NOT NULL REFERENCES notices(id),
  content TEXT NOT NULL,
  contact TEXT NOT NULL DEFAULT '',
  registered_by INTEGER NOT NULL REFERENCES users(id),
  registered_at TEXT NOT NULL,
  resolution TEXT NOT NULL DEFAULT '',
  resolved_at TEXT
);
CREATE INDEX objections_notice ON objections(notice_id);

CREATE TABLE ledger (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  item_id INTEGER REFERENCES case_items(id),
  referral_id INTEGER REFERENCES referrals(id),
  kind TEXT NOT NULL,
  department TEXT NOT NULL,
  amount_fen INTEGER NOT NULL,
  period_start TEXT NOT NULL,
  period_end TEXT,
  decided_on TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ledger_household ON ledger(household_id, decided_on);

-- Locally set numbers (standards, limits) per region with effective dates. The most
-- specific region wins; within it the latest effective_from not after the date.
CREATE TABLE standards (
  id INTEGER PRIMARY KEY,
  region_code TEXT NOT NULL,
  key TEXT NOT NULL,
  value_fen INTEGER NOT NULL,
  effective_from TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX standards_key ON standards(key, region_code, effective_from);
