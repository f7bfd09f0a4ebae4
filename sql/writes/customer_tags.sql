-- Tag the imported customers.
INSERT INTO customer_tags (customer_id, tag_id, batch_id)
SELECT customer_id, tag_id, $batch_id FROM {batch}.customer_tags_added;
