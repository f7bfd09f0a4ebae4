-- tmall_latest_orders: for each order this batch imports, its latest state by export date
-- (ties: the later batch). Orders and items are written from it, so the latest export wins
-- whatever order the exports arrive in.
CREATE OR REPLACE TABLE {staging}.tmall_latest_orders AS
SELECT h.*, o.customer_id, o.outcome
FROM (
    SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY export_at DESC, batch_id DESC) AS recency
    FROM tmall_order_history
    WHERE order_id IN (SELECT order_id FROM {staging}.tmall_order_outcomes WHERE outcome IN ('created', 'updated'))
) h
JOIN {staging}.tmall_order_outcomes o ON o.order_id = h.order_id AND o.outcome IN ('created', 'updated')
WHERE h.recency = 1;
