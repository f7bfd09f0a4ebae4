-- How the rows of an import end: the figures of its summary (scanned = created + updated +
-- failed + skipped), with the dry run's split of failures into duplicate and invalid.
SELECT count(*) AS scanned,
       count(*) FILTER (WHERE outcome = 'skipped') AS skipped,
       count(*) FILTER (WHERE outcome = 'created') AS created,
       count(*) FILTER (WHERE outcome = 'updated') AS updated,
       count(*) FILTER (WHERE outcome = 'failed') AS failed,
       count(*) FILTER (WHERE reason_code = 'duplicate_in_file') AS duplicate
FROM {staging}.customer_row_outcomes;
