-- row_failures: every reason an order row fails for: its contract failures, a duplicated order
-- number, and what matching decided (status not accepted, no buyer found).
CREATE OR REPLACE TABLE {staging}.row_failures AS
SELECT row_number, reason_code FROM {staging}.contract_failures
UNION ALL
SELECT row_number, 'duplicate_in_file' FROM {staging}.tmall_order_duplicates
UNION ALL
SELECT row_number, failure FROM {staging}.tmall_order_decisions WHERE failure IS NOT NULL;
