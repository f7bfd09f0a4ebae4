-- A 20-row preview of an import's outcomes, personal data masked (metadata, dry runs).
SELECT o.row_number, o.outcome, mask_identifier(o.customer_id) AS customer_id, o.matched_by, o.reason_code,
       r.name, mask_mobile(r.mobile) AS mobile, mask_email(r.email) AS email,
       r.gender, r.province, r.city, CAST(r.birthday AS VARCHAR) AS birthday, r.points,
       array_to_string(r.tags, ',') AS tags
FROM {staging}.customer_row_outcomes o JOIN {staging}.customer_rows r USING (row_number)
ORDER BY o.row_number
LIMIT 20;
