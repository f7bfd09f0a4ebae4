-- Each imported order's items: the lines of its latest export (by export date, then batch) that
-- lists any, in report order — the same whatever order the exports were imported in.
INSERT INTO order_items (order_id, line_number, sub_order_id, title, price, quantity, sku_code, external_code,
                         properties, status, export_at, batch_id)
SELECT h.order_id, h.line_number, h.sub_order_id, h.title, h.price, h.quantity, h.sku_code, h.external_code,
       h.properties, h.status, h.export_at, h.batch_id
FROM tmall_item_history h
JOIN (
    SELECT order_id, max((export_at, batch_id)) AS latest
    FROM tmall_item_history
    WHERE order_id IN (SELECT order_id FROM {staging}.tmall_latest_orders)
    GROUP BY order_id
) l ON l.order_id = h.order_id AND (h.export_at, h.batch_id) = l.latest;
