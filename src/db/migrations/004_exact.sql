-- Stageline schema, version 4 (issue 11, exact under every retry).

-- Ingest batches: every raw cell names the batch that wrote it (in its qualifier). A batch counts
-- once it is committed; commits are numbered (commit_seq) under the lock of ingest_clock, and a
-- plan's snapshot is "every batch committed up to snapshot_seq", so a retry reads the same cells.
CREATE TABLE IF NOT EXISTS ingest_batches (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  state ENUM('open', 'committed') NOT NULL DEFAULT 'open',
  -- commit_seq of the last batch committed when this one opened: commits after it may have raced
  open_seq BIGINT NOT NULL,
  commit_seq BIGINT NULL,
  opened_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  committed_at TIMESTAMP(3) NULL,
  UNIQUE KEY by_commit (commit_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The merchant-days a committed batch wrote to: what a later commit checks for races, and split
-- loads (batch ids of a day with their commit_seq) to apply the snapshot.
CREATE TABLE IF NOT EXISTS ingest_batch_days (
  batch_id BIGINT NOT NULL,
  day DATE NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  commit_seq BIGINT NOT NULL,
  PRIMARY KEY (day, merchant_id, batch_id),
  KEY by_seq (commit_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row: the commit counter. Commits and plans take it FOR UPDATE, so a plan sees a commit whole or not at all.
CREATE TABLE IF NOT EXISTS ingest_clock (
  id TINYINT NOT NULL PRIMARY KEY,
  commit_seq BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO ingest_clock (id, commit_seq) VALUES (1, 0);

-- Each epoch of a day: its snapshot and batch shape, fixed when it was planned.
CREATE TABLE IF NOT EXISTS run_epochs (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  kind ENUM('full', 'replay', 'late') NOT NULL DEFAULT 'full',
  snapshot_seq BIGINT NOT NULL,
  batch_visitors INT NOT NULL,
  batch_bytes INT NOT NULL,
  partial_bytes INT NOT NULL,
  -- a replay: the stage it restarts from, and the epoch the messages on that stage's input carry
  -- (that stage takes those messages as this epoch's; every other stage drops older epochs)
  from_stage VARCHAR(16) NULL,
  source_epoch INT NULL,
  planned_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (day, epoch)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The epoch a merchant-day is computed under now, and the latest one that finished (what report shows).
CREATE TABLE IF NOT EXISTS merchant_day_epochs (
  day DATE NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  epoch INT NOT NULL,
  done_epoch INT NULL,
  PRIMARY KEY (day, merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Late data: rows stored after a merchant-day's snapshot was planned that change what the night
-- reads. Cleared when a plan takes the merchant-day in again (issue 12 re-runs just those).
CREATE TABLE IF NOT EXISTS late_data (
  day DATE NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `rows` BIGINT NOT NULL,
  first_seq BIGINT NOT NULL,
  last_seq BIGINT NOT NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (day, merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The lease: when it was last renewed (a nightly that finds a lease tells a dead holder from a live one by it).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS lock_renewed_at TIMESTAMP(3) NULL;

-- Seals: the rows the plan expects a range to read, the digest split sealed, and the alarms.
ALTER TABLE chunk_ledger ADD COLUMN IF NOT EXISTS expected_rows BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chunk_ledger ADD COLUMN IF NOT EXISTS digest VARBINARY(32) NULL;
ALTER TABLE chunk_ledger ADD COLUMN IF NOT EXISTS conflict TEXT NULL;
ALTER TABLE chunk_ledger ADD COLUMN IF NOT EXISTS last_error TEXT NULL;

-- The batch ids a seal committed to; received = its partial is stored. Completeness is then two
-- counters on merchant_days, kept by the seal and by each new partial, never a recount.
CREATE TABLE IF NOT EXISTS sealed_batches (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  batch_id VARCHAR(160) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  chunk_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  received TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (day, epoch, merchant_id, batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS chunks_sealed INT NOT NULL DEFAULT 0;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS batches_expected BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS batches_received BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS invalid_sealed BIGINT NOT NULL DEFAULT 0;
-- partials whose batch id is not in the sealed set: refused, counted, never merged
ALTER TABLE merchant_days ADD COLUMN IF NOT EXISTS refused_partials INT NOT NULL DEFAULT 0;

-- A partial is refused (outside the sealed set) at most once.
ALTER TABLE partials ADD COLUMN IF NOT EXISTS refused TINYINT NOT NULL DEFAULT 0;

-- Messages of a superseded epoch that a stage dropped, per chunk (status shows them).
ALTER TABLE chunk_work ADD COLUMN IF NOT EXISTS dropped INT NOT NULL DEFAULT 0;

-- Ids compare byte for byte: utf8mb4_bin pads with spaces, so "v1" and "v1 " were one key and a reject was lost.
ALTER TABLE quarantine MODIFY visitor_id VARBINARY(512) NOT NULL, MODIFY event_id VARBINARY(512) NOT NULL;

-- Ingest refusals, beside the stored-but-invalid events: the line (bounded), where it came from and why.
CREATE TABLE IF NOT EXISTS ingest_rejects (
  day DATE NOT NULL,
  -- sha256 of the whole line's bytes: the same refused line sent twice is one row
  line_sha BINARY(32) NOT NULL,
  day_known TINYINT NOT NULL,
  merchant_id VARBINARY(256) NULL,
  source VARCHAR(512) NOT NULL,
  line_no BIGINT NOT NULL,
  reason VARCHAR(64) NOT NULL,
  detail VARCHAR(512) NOT NULL,
  line_bytes BIGINT NOT NULL,
  line_head VARBINARY(4096) NOT NULL,
  refused_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (day, line_sha)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Dead letters keep their payload (bounded) for `dead-letters show`, and an id to name them by.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS id BIGINT NOT NULL AUTO_INCREMENT UNIQUE;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload MEDIUMBLOB NULL;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_bytes BIGINT NULL;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS epoch INT NULL
