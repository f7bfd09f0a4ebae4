-- Record the item lines of every order this export validly lists (accepted or not), under the
-- export's date, so a later import can still take them (backfills in any order).
INSERT INTO tmall_item_history (order_id, export_at, batch_id, line_number, sub_order_id, title, price, quantity,
                                sku_code, external_code, properties, status)
SELECT order_id, $export_at, $batch_id, line_number, sub_order_id, title, price, quantity, sku_code,
       external_code, properties, status
FROM {staging}.tmall_item_rows
WHERE NOT is_empty AND order_id IN (SELECT order_id FROM {staging}.tmall_order_candidates);
