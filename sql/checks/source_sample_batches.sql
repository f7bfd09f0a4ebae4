-- source_sample_batches: the batches of one kind a sampling check could verify (SPEC §6: "verify
-- by sampling integrated records against their sources"), newest first by commit time: committed,
-- with an archived original and at least one imported row. cdp_pipeline/source_sample.py takes
-- the first whose archived files are still there.
SELECT b.batch_id,
       b.archive_file,
       b.file_sha256,
       b.finished_at,
       b.encoding,
       CAST(b.settings AS VARCHAR) AS settings_json,
       CAST(b.details AS VARCHAR) AS details_json
FROM import_batches b
WHERE b.kind = $kind
  AND b.status = 'succeeded'
  AND b.archive_file IS NOT NULL
  AND EXISTS (SELECT 1 FROM import_row_outcomes o
              WHERE o.batch_id = b.batch_id AND o.outcome IN ('created', 'updated') AND o.customer_id IS NOT NULL)
ORDER BY b.finished_at DESC, b.batch_id DESC;
