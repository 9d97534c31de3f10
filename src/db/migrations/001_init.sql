-- Stageline schema, version 1. Every table is written idempotently: primary keys are the natural
-- identities (day, epoch, chunk, batch, event), so a repeated write is absorbed by INSERT IGNORE
-- or an upsert. Text ids use utf8mb4_bin: two ids that differ only by case or by an emoji
-- variation must stay two ids.

-- Planning hints written by ingest: rows stored per merchant, day and visitor bucket.
CREATE TABLE IF NOT EXISTS raw_buckets (
  day DATE NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  bucket SMALLINT UNSIGNED NOT NULL,
  rows_stored BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (day, merchant_id, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per day: the current epoch (bumped by replay and --rerun), its state and the master lease.
CREATE TABLE IF NOT EXISTS runs (
  day DATE NOT NULL PRIMARY KEY,
  epoch INT NOT NULL,
  run_id VARCHAR(64) NOT NULL,
  state ENUM('planning', 'running', 'complete', 'failed') NOT NULL,
  from_stage ENUM('split', 'transform', 'summarize') NOT NULL DEFAULT 'split',
  chunks INT NOT NULL DEFAULT 0,
  merchant_days INT NOT NULL DEFAULT 0,
  planned_rows BIGINT NOT NULL DEFAULT 0,
  lock_owner VARCHAR(128) NULL,
  lock_expires_at TIMESTAMP(3) NULL,
  error TEXT NULL,
  started_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  first_publish_at TIMESTAMP(3) NULL,
  completed_at TIMESTAMP(3) NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The plan: one row per chunk, with the master's publish checkpoint and split's ledger totals.
CREATE TABLE IF NOT EXISTS run_chunks (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  chunk_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq INT NOT NULL,
  ranges JSON NOT NULL,
  est_rows BIGINT NOT NULL,
  publish_count INT NOT NULL DEFAULT 0,
  published_at TIMESTAMP(3) NULL,
  split_done_at TIMESTAMP(3) NULL,
  PRIMARY KEY (day, epoch, chunk_id),
  KEY by_seq (day, epoch, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The completeness ledger per (chunk, merchant-day): what split read and emitted.
CREATE TABLE IF NOT EXISTS chunk_ledger (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  chunk_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  bucket_lo SMALLINT UNSIGNED NOT NULL,
  bucket_hi SMALLINT UNSIGNED NOT NULL,
  rows_read BIGINT NULL,
  valid BIGINT NULL,
  invalid BIGINT NULL,
  batches INT NULL,
  sealed_at TIMESTAMP(3) NULL,
  PRIMARY KEY (day, epoch, merchant_id, chunk_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Merchant-days of a run and whether summarize has written their summary.
CREATE TABLE IF NOT EXISTS merchant_days (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  chunks INT NOT NULL,
  est_rows BIGINT NOT NULL,
  state ENUM('pending', 'done') NOT NULL DEFAULT 'pending',
  events BIGINT NULL,
  invalid_events BIGINT NULL,
  done_at TIMESTAMP(3) NULL,
  PRIMARY KEY (day, epoch, merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Partial aggregates as received by summarize (one per visitor batch); the payload is the Avro message.
CREATE TABLE IF NOT EXISTS partials (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  batch_id VARCHAR(160) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  chunk_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  payload MEDIUMBLOB NOT NULL,
  received_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (day, epoch, merchant_id, batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Stored events that fail a rule, with the reason: what `stageline rejects --day D` lists.
CREATE TABLE IF NOT EXISTS quarantine (
  day DATE NOT NULL,
  merchant_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  visitor_id VARCHAR(128) NOT NULL,
  event_id VARCHAR(128) NOT NULL,
  reason VARCHAR(64) NOT NULL,
  detail VARCHAR(512) NOT NULL,
  raw MEDIUMTEXT NOT NULL,
  PRIMARY KEY (day, merchant_id, visitor_id, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Messages a stage could not decode or handle: copied to the stage's dead-letter topic too.
CREATE TABLE IF NOT EXISTS dead_letters (
  stage VARCHAR(16) NOT NULL,
  source_topic VARCHAR(255) NOT NULL,
  kafka_partition INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  day DATE NULL,
  error_code VARCHAR(64) NOT NULL,
  error TEXT NOT NULL,
  failed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (stage, source_topic, kafka_partition, kafka_offset)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Offset ranges each run's messages occupy, per topic-partition: what replay resets to.
CREATE TABLE IF NOT EXISTS run_offsets (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  topic VARCHAR(255) NOT NULL,
  kafka_partition INT NOT NULL,
  first_offset BIGINT NOT NULL,
  last_offset BIGINT NOT NULL,
  PRIMARY KEY (day, epoch, topic, kafka_partition)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
