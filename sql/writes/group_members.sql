-- Every imported customer joins the batch's static group.
INSERT INTO group_members (group_id, customer_id, batch_id)
SELECT DISTINCT g.group_id, b.customer_id, $batch_id
FROM {batch}.batch_customers b
JOIN groups g ON g.name = $group
WHERE NOT EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.group_id AND m.customer_id = b.customer_id);
