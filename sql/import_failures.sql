-- One failure row per failed source row: its first reason, every reason, and the original cells.
-- {outcomes} and {rows} are the batch's outcome and cleaned-row tables (customers or Tmall orders).
INSERT INTO import_failures (batch_id, row_number, reason_code, reason, raw, reason_codes)
SELECT $batch_id, o.row_number, o.reason_code, rc.reason, to_json(r.raw), o.reason_codes
FROM {outcomes} o
JOIN {rows} r USING (row_number)
JOIN {staging}.reason_codes rc ON rc.code = o.reason_code
WHERE o.outcome = 'failed';
