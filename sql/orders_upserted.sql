-- Orders upsert by order id: a new order is inserted, a known one takes its latest state
-- (status, amounts) and keeps its customer. Never a duplicate.
INSERT INTO orders (order_id, customer_id, status, ordered_at, paid_at, total_amount, paid_amount,
                    receiver_name, receiver_mobile, province, city, address, buyer_nick, shop_name,
                    export_at, batch_id, first_batch_id)
SELECT order_id, customer_id, status, ordered_at, paid_at, total_amount, paid_amount, receiver_name,
       receiver_mobile, province, city, address, buyer_nick, shop_name, export_at, $batch_id, $batch_id
FROM {staging}.tmall_latest_orders
ON CONFLICT (order_id) DO UPDATE SET
    status = excluded.status,
    ordered_at = excluded.ordered_at,
    paid_at = excluded.paid_at,
    total_amount = excluded.total_amount,
    paid_amount = excluded.paid_amount,
    receiver_name = excluded.receiver_name,
    receiver_mobile = excluded.receiver_mobile,
    province = excluded.province,
    city = excluded.city,
    address = excluded.address,
    buyer_nick = excluded.buyer_nick,
    shop_name = excluded.shop_name,
    export_at = excluded.export_at,
    batch_id = excluded.batch_id;
