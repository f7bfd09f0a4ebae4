-- The batch's record, written last in its transaction: a batch counts as imported only once
-- this row exists with status succeeded. $unchanged is counted by the kind's own SQL (NULL when
-- the kind does not count it).
INSERT INTO import_batches (batch_id, kind, file_name, file_sha256, status, scanned, skipped, created,
                            updated, failed, started_at, finished_at, encoding, headers, settings,
                            refused_columns, unknown_columns, failure_file, archive_file, business_date,
                            details, unchanged)
SELECT $batch_id, $kind, $file_name, $file_sha256, 'succeeded',
       count(*), count(*) FILTER (WHERE outcome = 'skipped'), count(*) FILTER (WHERE outcome = 'created'),
       count(*) FILTER (WHERE outcome = 'updated'), count(*) FILTER (WHERE outcome = 'failed'),
       $started_at, $now, $encoding, CAST($headers AS JSON), CAST($settings AS JSON),
       CAST($refused AS JSON), CAST($unknown AS JSON), $failure_file, $archive_file, $business_date,
       CAST($details AS JSON), CAST($unchanged AS BIGINT)
FROM {outcomes};
