-- The items of every order this batch imports are rebuilt from the item history: first the old lines go.
DELETE FROM order_items
WHERE order_id IN (SELECT order_id FROM {batch}.tmall_latest_orders);
