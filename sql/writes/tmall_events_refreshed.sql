-- The purchase event of an order this batch updates shows the order's latest state by export
-- date (as the orders table does), so the timeline is the same whatever order exports arrive in.
UPDATE customer_events e
SET detail = CAST(json_object('order_id', l.order_id, 'amount', l.paid_amount, 'status', l.status) AS JSON)
FROM {batch}.tmall_latest_orders l
WHERE l.outcome = 'updated'
  AND e.event_type = 'purchase'
  AND e.customer_id = l.customer_id
  AND e.detail ->> 'order_id' = l.order_id;
