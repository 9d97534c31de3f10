-- Stageline schema, version 2: per-chunk work reports (issue 6). One row per chunk, stage and
-- replica process, holding that process's running totals for the chunk; a replica rewrites its
-- row with the new totals (absolute values, not increments), so a retried write changes nothing.
-- `stageline status --chunks` sums the replicas.
CREATE TABLE IF NOT EXISTS chunk_work (
  day DATE NOT NULL,
  epoch INT NOT NULL,
  chunk_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  stage VARCHAR(16) NOT NULL,
  replica VARCHAR(128) NOT NULL,
  messages INT NOT NULL,
  events BIGINT NOT NULL,
  -- produce time → handler start: waiting in Kafka and in the replica's in-flight queue
  queued_ms BIGINT NOT NULL,
  -- handler start → handler done, retries included
  handle_ms BIGINT NOT NULL,
  -- part of handle_ms with at least one write outstanding (MySQL statement, HBase put, Kafka produce)
  write_ms BIGINT NOT NULL,
  first_at TIMESTAMP(3) NOT NULL,
  last_at TIMESTAMP(3) NOT NULL,
  PRIMARY KEY (day, epoch, chunk_id, stage, replica),
  KEY by_stage (day, epoch, stage)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
