-- batch_customers: the customers of the orders a Tmall batch imported (for --tag and --group).
CREATE OR REPLACE TEMP TABLE {batch}.batch_customers AS
SELECT DISTINCT customer_id, CAST([] AS VARCHAR[]) AS tags
FROM {staging}.tmall_order_outcomes
WHERE outcome IN ('created', 'updated');
