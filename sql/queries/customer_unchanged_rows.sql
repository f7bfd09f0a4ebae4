-- The batch's `unchanged`: its matched rows (outcome updated, so unchanged <= updated) that
-- changed nothing about their customer. A row changed something when this batch gave its
-- customer an attribute change (customer_attribute_changes: the same test as its updated_at and
-- attribute_changed event), a custom attribute value, an identity, a tag or a group membership.
-- Run after every write of the batch, before its record; NOT EXISTS, never NOT IN over a set
-- that could hold NULL.
WITH changed AS (
    SELECT customer_id FROM {batch}.customer_attribute_changes
    UNION ALL
    SELECT customer_id FROM {batch}.customer_custom_attribute_changes
    UNION ALL
    SELECT customer_id FROM {batch}.customer_tags_added
    UNION ALL
    SELECT customer_id FROM customer_identities WHERE batch_id = $batch_id
    UNION ALL
    SELECT customer_id FROM group_members WHERE batch_id = $batch_id
)
SELECT count(*) AS unchanged
FROM {staging}.customer_row_outcomes o
WHERE o.outcome = 'updated' AND NOT EXISTS (SELECT 1 FROM changed c WHERE c.customer_id = o.customer_id);
