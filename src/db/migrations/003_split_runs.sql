-- How many times split started each chunk in an epoch: 1 after a clean run or a graceful drain;
-- more than 1 shows work that had to be redone (a killed worker, a re-published stuck chunk).
ALTER TABLE run_chunks ADD COLUMN IF NOT EXISTS split_runs INT NOT NULL DEFAULT 0
