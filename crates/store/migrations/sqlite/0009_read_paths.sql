-- A name search by a village (or with a village filter) reads that village's
-- persons only, instead of every namesake in the district.
CREATE INDEX persons_village_name ON persons(village_code, name);
-- The household file's history lists writes only; a much-viewed household has
-- thousands of view entries that the plain (household_id, id) index walks past.
CREATE INDEX audit_log_household_writes ON audit_log(household_id, id)
  WHERE action NOT IN ('view', 'reveal_id', 'denied', 'export');
-- A household file lists its referrals.
CREATE INDEX IF NOT EXISTS referrals_household ON referrals(household_id);
