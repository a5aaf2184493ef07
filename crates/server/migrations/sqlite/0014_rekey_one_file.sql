-- A rotation job of one file (an owner's "move this file to my account's key"): the file's id;
-- NULL for a job of every file under a key. At most one open job per file.
ALTER TABLE rekey_jobs ADD COLUMN object_id TEXT;
CREATE UNIQUE INDEX rekey_jobs_one_open_per_object ON rekey_jobs(object_id)
    WHERE object_id IS NOT NULL AND state IN ('queued', 'running');
