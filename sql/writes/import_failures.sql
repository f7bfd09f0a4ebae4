-- One failure row per failed source row: its first reason (in the words of its kind of file),
-- every reason, and the original cells.
-- {outcomes} is the batch's outcome table (customers or Tmall orders); the cells come from the
-- staged file ({file_rows}), which the cleaned rows do not copy.
INSERT INTO import_failures (batch_id, row_number, reason_code, reason, raw, reason_codes)
SELECT $batch_id, o.row_number, o.reason_code, rc.reason, to_json({raw_cells}), o.reason_codes
FROM {outcomes} o
JOIN {file_rows} USING (row_number)
JOIN {staging}.reason_codes rc ON rc.code = o.reason_code AND rc.file_role IS NULL
WHERE o.outcome = 'failed';
