-- doudi schema, SQLite flavour. Keep in step with ../postgresql/0001_init.sql.
-- Conventions: dates are ISO-8601 TEXT (YYYY-MM-DD), timestamps RFC 3339 UTC TEXT,
-- money is BIGINT fen, flags are 0/1 integers. Large tables carry county/town/village
-- codes and their indexes lead with a jurisdiction column.
CREATE TABLE regions (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  level TEXT NOT NULL,
  kind TEXT NOT NULL,
  parent_code TEXT REFERENCES regions(code),
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);
CREATE INDEX regions_parent ON regions(parent_code);

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  region_code TEXT NOT NULL REFERENCES regions(code),
  department TEXT,
  phone TEXT,
  is_machine INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_attempts (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  client TEXT NOT NULL,
  success INTEGER NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX login_attempts_user ON login_attempts(username, at);

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE households (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL REFERENCES regions(code),
  head_name TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  registration_address TEXT NOT NULL,
  residence_address TEXT NOT NULL,
  residence_village_code TEXT,
  phone TEXT,
  categories TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'active',
  version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX households_county ON households(county_code, id);
CREATE INDEX households_town ON households(town_code, id);
CREATE INDEX households_village ON households(village_code, id);
CREATE INDEX households_phone ON households(county_code, phone);

CREATE TABLE persons (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  town_code TEXT NOT NULL,
  village_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  relation TEXT NOT NULL,
  name TEXT NOT NULL,
  id_number TEXT NOT NULL UNIQUE,
  id_number_original TEXT,
  id_reversed TEXT NOT NULL,
  sex TEXT NOT NULL,
  birth_date TEXT NOT NULL,
  phone TEXT,
  disability_type TEXT,
  disability_grade INTEGER,
  illnesses TEXT NOT NULL DEFAULT '',
  self_care_unable INTEGER NOT NULL DEFAULT 0,
  employment TEXT NOT NULL,
  schooling TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'alive',
  death_date TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX persons_household ON persons(household_id);
CREATE INDEX persons_name ON persons(county_code, name);
CREATE INDEX persons_id_reversed ON persons(county_code, id_reversed);
CREATE INDEX persons_phone ON persons(county_code, phone);

CREATE TABLE memberships (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  person_id INTEGER NOT NULL REFERENCES persons(id),
  household_id INTEGER NOT NULL REFERENCES households(id),
  relation TEXT NOT NULL,
  start_date TEXT NOT NULL,
  end_date TEXT,
  reason TEXT NOT NULL
);
CREATE INDEX memberships_person ON memberships(person_id);
CREATE INDEX memberships_household ON memberships(household_id);
CREATE UNIQUE INDEX memberships_one_active ON memberships(person_id) WHERE end_date IS NULL;

CREATE TABLE income_items (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  person_id INTEGER REFERENCES persons(id),
  kind TEXT NOT NULL,
  description TEXT NOT NULL,
  monthly_fen INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX income_items_household ON income_items(household_id);

CREATE TABLE assets (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  kind TEXT NOT NULL,
  description TEXT NOT NULL,
  value_fen INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX assets_household ON assets(household_id);

CREATE TABLE household_categories (
  id INTEGER PRIMARY KEY,
  county_code TEXT NOT NULL,
  household_id INTEGER NOT NULL REFERENCES households(id),
  category TEXT NOT NULL,
  start_date TEXT NOT NULL,
  end_date TEXT
);
CREATE INDEX household_categories_household ON household_categories(household_id);
CREATE INDEX household_categories_category ON household_categories(county_code, category);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  user_id INTEGER,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  entity TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  household_id INTEGER,
  region_code TEXT NOT NULL,
  before_json TEXT,
  after_json TEXT,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_region ON audit_log(region_code, id);
CREATE INDEX audit_log_household ON audit_log(household_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE import_jobs (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  region_code TEXT NOT NULL,
  filename TEXT NOT NULL,
  mode TEXT NOT NULL,
  status TEXT NOT NULL,
  total_rows INTEGER NOT NULL DEFAULT 0,
  processed_rows INTEGER NOT NULL DEFAULT 0,
  accepted_rows INTEGER NOT NULL DEFAULT 0,
  rejected_rows INTEGER NOT NULL DEFAULT 0,
  households_created INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  report_json TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  finished_at TEXT
);
