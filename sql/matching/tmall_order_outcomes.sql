-- tmall_order_outcomes: the outcome of every record of the order report — skipped (empty),
-- failed (its reasons ranked by row_reasons.sql), updated (an order imported before: its customer
-- stays) or created (with the buyer tmall_order_decisions.sql found or made).
CREATE OR REPLACE TABLE {staging}.tmall_order_outcomes AS
SELECT
    r.row_number,
    r.order_id,
    CASE
        WHEN r.is_empty THEN 'skipped'
        WHEN k.reason_codes IS NOT NULL THEN 'failed'
        WHEN d.known THEN 'updated'
        ELSE 'created'
    END AS outcome,
    CASE WHEN k.reason_codes IS NULL THEN d.customer_id END AS customer_id,
    CASE WHEN k.reason_codes IS NULL THEN d.matched_by END AS matched_by,
    k.reason_codes,
    k.reason_codes[1] AS reason_code
FROM {staging}.tmall_order_rows r
LEFT JOIN {staging}.tmall_order_decisions d USING (row_number)
LEFT JOIN {staging}.row_reasons k USING (row_number);
