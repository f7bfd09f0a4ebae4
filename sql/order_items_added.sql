-- The items of the orders this export is the latest for, in report order.
INSERT INTO order_items (order_id, line_number, sub_order_id, title, price, quantity, sku_code, external_code,
                         properties, status, export_at, batch_id)
SELECT i.order_id, i.line_number, i.sub_order_id, i.title, i.price, i.quantity, i.sku_code, i.external_code,
       i.properties, i.status, $export_at, $batch_id
FROM {staging}.tmall_item_rows i
WHERE NOT i.is_empty
  AND i.order_id IN (SELECT order_id FROM {staging}.tmall_latest_orders WHERE from_this_batch);
