-- Each updated row's points are added to its customer's.
UPDATE customers SET points = coalesce(customers.points, 0) + o.points, updated_at = $now
FROM (SELECT customer_id, sum(points) AS points FROM {staging}.points_outcomes WHERE outcome = 'updated' GROUP BY ALL) o
WHERE customers.customer_id = o.customer_id;
