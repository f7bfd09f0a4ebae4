-- One failure row per failed source row: its first reason, every reason, and the original cells.
INSERT INTO import_failures (batch_id, row_number, reason_code, reason, raw, reason_codes)
SELECT $batch_id, o.row_number, o.reason_code, rc.reason, to_json(r.raw), o.reason_codes
FROM {staging}.customer_row_outcomes o
JOIN {staging}.customer_rows r USING (row_number)
JOIN {staging}.reason_codes rc ON rc.code = o.reason_code
WHERE o.outcome = 'failed';
