-- The figures of a points batch.
SELECT count(*) AS scanned,
       count(*) FILTER (WHERE outcome = 'updated') AS updated,
       count(*) FILTER (WHERE outcome = 'failed') AS failed
FROM {staging}.points_outcomes;
