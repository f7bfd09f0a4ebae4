-- row_failures: every reason a record of a customer file fails for: its contract failures, and
-- what matching found (a duplicate in the file, an unknown customer ID, a conflict).
CREATE OR REPLACE TABLE {staging}.row_failures AS
SELECT row_number, reason_code FROM {staging}.contract_failures
UNION ALL
SELECT row_number, failure FROM {staging}.customer_matches WHERE failure IS NOT NULL;
