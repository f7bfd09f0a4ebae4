-- One tag_added event per (customer, tag) the batch added.
INSERT INTO customer_events (customer_id, event_type, occurred_at, batch_id, detail)
SELECT a.customer_id, 'tag_added', $now, $batch_id, CAST(json_object('tag_id', a.tag_id, 'tag', t.name) AS JSON)
FROM {batch}.customer_tags_added a JOIN tags t USING (tag_id);
