-- points_outcomes: a row adds its points to a known customer (updated), or fails: its contract
-- failure first, else an unknown customer ID; an empty row is skipped.
CREATE OR REPLACE TABLE {staging}.points_outcomes AS
SELECT r.row_number,
       CASE WHEN r.is_empty THEN 'skipped'
            WHEN f.reason_code IS NOT NULL OR c.customer_id IS NULL THEN 'failed'
            ELSE 'updated' END AS outcome,
       CASE WHEN r.is_empty THEN NULL
            ELSE coalesce(f.reason_code, CASE WHEN c.customer_id IS NULL THEN 'unknown_customer_id' END) END
           AS reason_code,
       CASE WHEN NOT r.is_empty AND (f.reason_code IS NOT NULL OR c.customer_id IS NULL)
            THEN [coalesce(f.reason_code, 'unknown_customer_id')] END AS reason_codes,
       c.customer_id,
       CASE WHEN c.customer_id IS NOT NULL AND f.reason_code IS NULL THEN 'customer_id' END AS matched_by,
       r.points
FROM {staging}.points_rows r
LEFT JOIN (SELECT row_number, min(reason_code) AS reason_code FROM {staging}.contract_failures GROUP BY ALL) f
    USING (row_number)
LEFT JOIN customers c ON c.customer_id = r.customer_id AND NOT r.is_empty;
