-- profile_customers: the customers whose purchase profile a batch may change — those it imported
-- (new customers, changed points) and the customer of every order it wrote (an order keeps its
-- customer on upsert, so no other profile can move).
CREATE OR REPLACE TEMP TABLE {batch}.profile_customers AS
SELECT customer_id FROM {batch}.batch_customers
UNION
SELECT customer_id FROM orders WHERE batch_id = $batch_id;
