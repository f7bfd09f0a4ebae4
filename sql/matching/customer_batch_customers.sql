-- batch_customers: the customers a customer-file batch imported (created or updated), with the
-- tags their rows carry. Tags, groups and tag events work from this table for every kind of import.
CREATE OR REPLACE TEMP TABLE {batch}.batch_customers AS
SELECT o.customer_id, r.tags
FROM {staging}.customer_row_outcomes o JOIN {staging}.customer_rows r USING (row_number)
WHERE o.outcome IN ('created', 'updated');
