-- row_reasons: each failed record's reason codes, first by priority (the order of
-- data_contracts/reason_codes.yaml), from the kind's row_failures: one ranking for every kind.
CREATE OR REPLACE TABLE {staging}.row_reasons AS
SELECT x.row_number, list(x.reason_code ORDER BY rc.priority) AS reason_codes
FROM (SELECT DISTINCT row_number, reason_code FROM {staging}.row_failures) x
JOIN {staging}.reason_codes rc ON rc.code = x.reason_code AND rc.file_role IS NULL
GROUP BY x.row_number;
