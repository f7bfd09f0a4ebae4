-- Orders upsert by order id, first half: a known order takes its latest state (status, amounts)
-- and keeps its customer; orders_upserted.sql then inserts the new ones. Two plain statements,
-- the update before any large insert of the transaction, cost less than INSERT ... ON CONFLICT
-- DO UPDATE, which checks every new order for a conflict it will not have.
UPDATE orders
SET status = l.status,
    ordered_at = l.ordered_at,
    paid_at = l.paid_at,
    total_amount = l.total_amount,
    paid_amount = l.paid_amount,
    receiver_name = l.receiver_name,
    receiver_mobile = l.receiver_mobile,
    province = l.province,
    city = l.city,
    address = l.address,
    buyer_nick = l.buyer_nick,
    shop_name = l.shop_name,
    export_at = l.export_at,
    batch_id = $batch_id
FROM {batch}.tmall_latest_orders l
WHERE orders.order_id = l.order_id;
