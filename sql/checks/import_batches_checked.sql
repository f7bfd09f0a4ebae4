-- import_batches_checked: the figures of every committed batch beside what the warehouse holds
-- for it (issue 13's reconciliation): the outcome counts summed, the failures stored (of its
-- main file, and of all its files), and for Tmall batches the order figures and the purchase
-- events against the orders it created. The failure files' rows are counted in Python
-- (cdp_pipeline.quality), from the paths selected here.
SELECT
    b.batch_id,
    b.kind,
    b.scanned,
    b.failed,
    b.failure_file,
    b.details ->> 'items_failure_file' AS items_failure_file,
    b.created + b.updated + b.failed + b.skipped AS accounted,
    (
        SELECT count(*) FROM import_failures f
        WHERE f.batch_id = b.batch_id AND f.file_role IS NULL
    ) AS stored_failures,
    (SELECT count(*) FROM import_failures f WHERE f.batch_id = b.batch_id) AS stored_failures_all_files,
    CAST(b.details ->> 'orders_scanned' AS BIGINT) AS orders_scanned,
    CAST(b.details ->> 'orders_imported' AS BIGINT)
    + CAST(b.details ->> 'orders_failed' AS BIGINT) AS orders_accounted,
    CASE
        WHEN b.kind = 'tmall'
            THEN (
                SELECT count(*) FROM customer_events e
                WHERE e.batch_id = b.batch_id AND e.event_type = 'purchase'
            )
    END AS purchase_events,
    CASE
        WHEN b.kind = 'tmall'
            THEN (SELECT count(*) FROM orders o WHERE o.first_batch_id = b.batch_id)
    END AS new_orders
FROM import_batches b
WHERE b.status = 'succeeded'
ORDER BY b.finished_at
