-- Failed rows by their first reason code.
SELECT reason_code, count(*) AS rows
FROM {staging}.customer_row_outcomes WHERE outcome = 'failed'
GROUP BY reason_code ORDER BY rows DESC, reason_code;
