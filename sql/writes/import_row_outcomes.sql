-- Each row's outcome, so any customer or order can be traced back to the row and key that made it.
INSERT INTO import_row_outcomes (batch_id, row_number, outcome, customer_id, matched_by)
SELECT $batch_id, row_number, outcome, customer_id, matched_by
FROM {outcomes};
