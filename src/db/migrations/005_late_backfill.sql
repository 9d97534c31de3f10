-- Stageline schema, version 5 (issue 12: late data, backfills, dead letters, retention).

-- What the next plan of the run's epoch covers: every merchant-day (full) or only those with late data (late).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS plan_kind ENUM('full', 'late') NOT NULL DEFAULT 'full';
-- Who started the run: a fresh night goes first when a backfill shares the workers.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS `trigger` ENUM('nightly', 'backfill', 'replay') NOT NULL DEFAULT 'nightly';

-- Dead letters: the message key (to put it back as it was), and whether it was put back.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS msg_key VARBINARY(1024) NULL;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS redriven_at TIMESTAMP(3) NULL;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS redrive_count INT NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD KEY IF NOT EXISTS by_day (day, stage)
