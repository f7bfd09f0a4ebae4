-- customer_row_outcomes: the outcome of every record of the file — skipped (empty), failed
-- (with every reason code, first by priority), updated (an existing customer) or created (with
-- the customer ID it will get). New IDs continue the base's sequence, in file order, so a dry
-- run shows the IDs the real import will use. A row's reasons come ranked from row_reasons.sql.
CREATE OR REPLACE TABLE {staging}.customer_row_outcomes AS
WITH id_base AS (
    SELECT coalesce(max(try_cast(substr(customer_id, 2) AS BIGINT)), 0) AS last_id
    FROM customers WHERE customer_id LIKE 'C%'
),
outcomes AS (
    SELECT
        r.row_number,
        CASE
            WHEN r.is_empty THEN 'skipped'
            WHEN k.reason_codes IS NOT NULL THEN 'failed'
            WHEN m.customer_id IS NOT NULL THEN 'updated'
            ELSE 'created'
        END AS outcome,
        m.customer_id AS matched_customer_id,
        CASE WHEN k.reason_codes IS NULL THEN m.matched_by END AS matched_by,
        k.reason_codes
    FROM {staging}.customer_rows r
    LEFT JOIN {staging}.customer_matches m USING (row_number)
    LEFT JOIN {staging}.row_reasons k USING (row_number)
)
SELECT
    o.row_number,
    o.outcome,
    CASE
        WHEN o.outcome = 'updated' THEN o.matched_customer_id
        WHEN o.outcome = 'created' THEN 'C' || lpad(CAST(b.last_id + row_number() OVER (
            PARTITION BY o.outcome = 'created' ORDER BY o.row_number) AS VARCHAR), 10, '0')
    END AS customer_id,
    CASE WHEN o.outcome = 'updated' THEN o.matched_by END AS matched_by,
    o.reason_codes,
    o.reason_codes[1] AS reason_code
FROM outcomes o CROSS JOIN id_base b;
