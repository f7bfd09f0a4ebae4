-- tmall_latest_orders: for each order this batch imports, its latest state by export date
-- (ties: the later batch). Orders and items are written from it, so the latest export wins
-- whatever order the exports arrive in.
-- Written before this export's states join the history (tmall_order_history.sql): this export's
-- state is its candidate row, and only orders an earlier batch recorded need ranking (ranking
-- every order over the rows just written in this transaction cost seconds).
-- A temporary table: it lives only for the write transaction's statements, and a staging table
-- would be compressed and written to the warehouse file only to be dropped after the commit.
CREATE OR REPLACE TEMP TABLE {batch}.tmall_latest_orders AS
WITH imported AS (
    SELECT order_id, customer_id, outcome
    FROM {staging}.tmall_order_outcomes
    WHERE outcome IN ('created', 'updated')
),
current AS (
    -- As tmall_order_history.sql records it.
    SELECT r.order_id, CAST($export_at AS TIMESTAMP) AS export_at, CAST($batch_id AS VARCHAR) AS batch_id, r.status,
           r.ordered_at, r.paid_at, r.total_amount, r.paid_amount, r.receiver_name, r.receiver_mobile, r.province,
           r.city, r.address, r.buyer_nick, r.shop_name
    FROM {staging}.tmall_order_candidates c
    JOIN {staging}.tmall_order_rows r USING (row_number)
    WHERE c.order_id IN (SELECT order_id FROM imported)
),
earlier AS (
    SELECT order_id, export_at, batch_id, status, ordered_at, paid_at, total_amount, paid_amount, receiver_name,
           receiver_mobile, province, city, address, buyer_nick, shop_name
    FROM tmall_order_history
    WHERE order_id IN (SELECT order_id FROM imported) AND batch_id <> $batch_id
),
latest AS (
    SELECT *, CAST(1 AS BIGINT) AS recency
    FROM current c
    WHERE NOT EXISTS (SELECT 1 FROM earlier e WHERE e.order_id = c.order_id)
    UNION ALL
    SELECT *
    FROM (
        SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY export_at DESC, batch_id DESC) AS recency
        FROM (
            SELECT * FROM current WHERE order_id IN (SELECT order_id FROM earlier)
            UNION ALL
            SELECT * FROM earlier
        ) states
    ) ranked
    WHERE recency = 1
)
SELECT l.*, i.customer_id, i.outcome
FROM latest l
JOIN imported i USING (order_id);
