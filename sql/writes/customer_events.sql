-- The timeline of a customer-file batch (normal mode only; fast mode records no events, seed
-- 001): customer_created, and one attribute_changed per changed customer with {field: [old, new]}.
INSERT INTO customer_events (customer_id, event_type, occurred_at, batch_id, detail)
SELECT customer_id, 'customer_created', $now, $batch_id, NULL
FROM {staging}.customer_row_outcomes WHERE outcome = 'created'
UNION ALL
SELECT customer_id, 'attribute_changed', $now, $batch_id,
       CAST(json_group_object(field, json_array(old_value, new_value)) AS JSON)
FROM {batch}.customer_attribute_changes GROUP BY customer_id;
