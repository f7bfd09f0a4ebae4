-- Every imported customer joins the batch's static group.
INSERT INTO group_members (group_id, customer_id, batch_id)
SELECT DISTINCT g.group_id, o.customer_id, $batch_id
FROM {staging}.customer_row_outcomes o
JOIN groups g ON g.name = $group
WHERE o.outcome IN ('created', 'updated')
  AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.group_id AND m.customer_id = o.customer_id);
