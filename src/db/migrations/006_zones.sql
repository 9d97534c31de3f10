-- Stageline schema, version 6 (issue 13: each merchant's day in its own time zone).

-- The merchant registry: one row per entry of a merchant's zone history. The merchant's days from
-- from_day on are in time_zone (the IANA name exactly as imported) up to the next entry; before its
-- first entry, and for a merchant not listed at all, its days are UTC.
CREATE TABLE IF NOT EXISTS merchant_zones (
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  from_day DATE NOT NULL,
  time_zone VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  set_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (merchant_id, from_day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The registry's version: every change bumps it. Ingest reads the histories and this version in one
-- snapshot; a batch whose merchants changed at a later version refuses to commit (its rows were
-- keyed by days of the history it read), see ledger/sql/ingest.ts.
CREATE TABLE IF NOT EXISTS registry_clock (
  id TINYINT NOT NULL PRIMARY KEY,
  version BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO registry_clock (id, version) VALUES (1, 0);

-- The version at which each merchant's history last changed.
CREATE TABLE IF NOT EXISTS merchant_zone_changes (
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  version BIGINT NOT NULL,
  changed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each planned merchant-day's frame, fixed by its plan so every stage and every retry agree (and a
-- tzdata update mid-run cannot split them): its zone, [day_start, day_end) in ms, the number of
-- hourly entries, and the ISO strings report prints. NULL on merchant-days planned before v6: UTC.
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS time_zone VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS day_start_ms BIGINT NULL;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS day_end_ms BIGINT NULL;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS hours SMALLINT NULL;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS day_start_iso VARCHAR(40) NULL;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS day_end_iso VARCHAR(40) NULL;

-- waiting: every merchant-day that is due is done, some are not due yet (their local day has not
-- ended plus the grace); the next nightly run of the day plans those once they are due.
ALTER TABLE runs MODIFY state ENUM('planning', 'running', 'complete', 'failed', 'waiting') NOT NULL;
