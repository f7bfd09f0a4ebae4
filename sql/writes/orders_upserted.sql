-- Orders upsert by order id, second half: each order not stored yet is inserted with its latest
-- state and customer (tmall_orders_updated.sql has already brought the known ones up to date).
-- Never a duplicate: tmall_latest_orders holds one row per order id, and a stored id is left to
-- tmall_orders_updated.sql (orders has no PRIMARY KEY: schema.sql says why).
INSERT INTO orders (order_id, customer_id, status, ordered_at, paid_at, total_amount, paid_amount,
                    receiver_name, receiver_mobile, province, city, address, buyer_nick, shop_name,
                    export_at, batch_id, first_batch_id)
SELECT order_id, customer_id, status, ordered_at, paid_at, total_amount, paid_amount, receiver_name,
       receiver_mobile, province, city, address, buyer_nick, shop_name, export_at, $batch_id, $batch_id
FROM {batch}.tmall_latest_orders l
WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = l.order_id);
