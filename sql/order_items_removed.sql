-- An order's items are replaced when this export is its latest: first the old lines go.
DELETE FROM order_items
WHERE order_id IN (SELECT order_id FROM {staging}.tmall_latest_orders WHERE from_this_batch);
