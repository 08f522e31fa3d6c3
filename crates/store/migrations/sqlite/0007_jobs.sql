-- Long jobs (imports, sweeps, 政策找人 runs) survive the death of their process
-- (issue 10, item 3). Each running row names the process that runs it (`owner`)
-- and when it last wrote a batch (`heartbeat_at`); at most one row of each kind
-- is running, enforced by a unique partial index, so a second start is refused
-- by the database whichever process asks.
ALTER TABLE import_jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE import_jobs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE sweeps ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD COLUMN heartbeat_at TEXT;
ALTER TABLE sweeps ADD COLUMN total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE finder_runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE finder_runs ADD COLUMN heartbeat_at TEXT;

-- Rows left 'running' by an earlier crash are interrupted: no process runs them.
UPDATE import_jobs SET status = 'interrupted', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  message = '升级时发现该导入仍标记为运行中（此前服务已中断），已标记为中断' WHERE status = 'running';
UPDATE sweeps SET status = 'interrupted', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  message = '升级时发现该排查仍标记为运行中（此前服务已中断），已标记为中断' WHERE status = 'running';
UPDATE finder_runs SET status = 'interrupted', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
  message = '升级时发现该运行仍标记为运行中（此前服务已中断），已标记为中断' WHERE status = 'running';

CREATE UNIQUE INDEX import_jobs_one_running ON import_jobs(status) WHERE status = 'running';
CREATE UNIQUE INDEX sweeps_one_running ON sweeps(status) WHERE status = 'running';
CREATE UNIQUE INDEX finder_runs_one_running ON finder_runs(status) WHERE status = 'running';
