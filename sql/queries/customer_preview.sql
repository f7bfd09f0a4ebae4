-- A 20-row preview of an import's outcomes, personal data masked (metadata, dry runs). The 20
-- outcomes are picked before the join, so masking and joining touch 20 rows, not the file.
WITH first_outcomes AS (
    SELECT * FROM {staging}.customer_row_outcomes ORDER BY row_number LIMIT 20
)
SELECT o.row_number, o.outcome, mask_identifier(o.customer_id) AS customer_id, o.matched_by, o.reason_code,
       r.name, mask_mobile(r.mobile) AS mobile, mask_email(r.email) AS email,
       r.gender, r.province, r.city, CAST(r.birthday AS VARCHAR) AS birthday, r.points,
       array_to_string(r.tags, ',') AS tags
FROM first_outcomes o JOIN {staging}.customer_rows r USING (row_number)
ORDER BY o.row_number;
