-- The timeline (normal mode only; fast mode records no events, seed 001): customer_created,
-- one attribute_changed per changed customer with {field: [old, new]}, and tag_added.
INSERT INTO customer_events (customer_id, event_type, occurred_at, batch_id, detail)
SELECT customer_id, 'customer_created', $now, $batch_id, NULL
FROM {staging}.customer_row_outcomes WHERE outcome = 'created'
UNION ALL
SELECT customer_id, 'attribute_changed', $now, $batch_id,
       CAST(json_group_object(field, json_array(old_value, new_value)) AS JSON)
FROM {staging}.customer_attribute_changes GROUP BY customer_id
UNION ALL
SELECT a.customer_id, 'tag_added', $now, $batch_id, CAST(json_object('tag_id', a.tag_id, 'tag', t.name) AS JSON)
FROM {staging}.customer_tags_added a JOIN tags t USING (tag_id);
