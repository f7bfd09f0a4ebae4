-- customer_tags_added: the (customer, tag) pairs this batch adds; existing pairs stay as they are.
CREATE OR REPLACE TEMP TABLE {batch}.customer_tags_added AS
SELECT DISTINCT a.customer_id, t.tag_id
FROM {batch}.customer_tag_assignments a
JOIN tags t ON lower(t.name) = lower(a.tag_name)
WHERE NOT EXISTS (SELECT 1 FROM customer_tags ct WHERE ct.customer_id = a.customer_id AND ct.tag_id = t.tag_id);
