-- batch_customers: the customers a points batch changed (for --tag and --group).
CREATE OR REPLACE TEMP TABLE {batch}.batch_customers AS
SELECT DISTINCT customer_id, CAST([] AS VARCHAR[]) AS tags
FROM {staging}.points_outcomes
WHERE outcome = 'updated';
