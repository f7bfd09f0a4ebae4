-- The timeline of a Tmall batch: customer_created for new buyers, and one purchase event per
-- newly imported order at its order time (an updated order adds none: SPEC §3).
INSERT INTO customer_events (customer_id, event_type, occurred_at, batch_id, detail)
SELECT customer_id, 'customer_created', $now, $batch_id, NULL
FROM {staging}.tmall_new_customers
UNION ALL
SELECT customer_id, 'purchase', ordered_at, $batch_id,
       CAST(json_object('order_id', order_id, 'amount', paid_amount, 'status', status) AS JSON)
FROM {batch}.tmall_latest_orders
WHERE outcome = 'created';
