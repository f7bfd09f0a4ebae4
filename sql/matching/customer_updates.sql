-- customer_updates: the new attribute values of each matched customer that really changes, as
-- a narrow table: UPDATE … FROM a plain table is fast, from a wide join it crawls at 1M rows.
CREATE OR REPLACE TEMP TABLE {batch}.customer_updates AS
SELECT o.customer_id, r.name, r.mobile, r.email, r.gender, r.province, r.city, r.birthday, r.points,
       r.employees, r.initial_source, r.initial_source_content
FROM {staging}.customer_row_outcomes o
JOIN {staging}.customer_rows r USING (row_number)
WHERE o.outcome = 'updated'
  AND o.customer_id IN (SELECT DISTINCT customer_id FROM {batch}.customer_attribute_changes);
