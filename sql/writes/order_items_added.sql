-- Each imported order's items: the lines of its latest export (by export date, then batch) that
-- lists any, in report order — the same whatever order the exports were imported in.
-- This export's lines come from the staged item rows (as tmall_item_history.sql records them):
-- only orders whose lines an earlier batch recorded need comparing exports.
INSERT INTO order_items (order_id, line_number, sub_order_id, title, price, quantity, sku_code, external_code,
                         properties, status, export_at, batch_id)
WITH current AS (
    SELECT order_id, line_number, sub_order_id, title, price, quantity, sku_code, external_code, properties, status,
           CAST($export_at AS TIMESTAMP) AS export_at, CAST($batch_id AS VARCHAR) AS batch_id
    FROM {staging}.tmall_item_rows
    WHERE NOT is_empty AND order_id IN (SELECT order_id FROM {batch}.tmall_latest_orders)
),
earlier AS (
    SELECT order_id, line_number, sub_order_id, title, price, quantity, sku_code, external_code, properties, status,
           export_at, batch_id
    FROM tmall_item_history
    WHERE order_id IN (SELECT order_id FROM {batch}.tmall_latest_orders) AND batch_id <> $batch_id
),
compared AS (
    SELECT * FROM current WHERE order_id IN (SELECT order_id FROM earlier)
    UNION ALL
    SELECT * FROM earlier
)
SELECT * FROM current c WHERE NOT EXISTS (SELECT 1 FROM earlier e WHERE e.order_id = c.order_id)
UNION ALL
SELECT h.*
FROM compared h
JOIN (SELECT order_id, max((export_at, batch_id)) AS latest FROM compared GROUP BY order_id) l
  ON l.order_id = h.order_id AND (h.export_at, h.batch_id) = l.latest;
