-- customer_attribute_changes: for matched customers, each attribute whose filled cell differs
-- from the stored value (an empty cell is no change: it never erases). Initial source fields
-- take part only under --source-policy all. Drives both the UPDATE and attribute_changed events.
-- The two unpivoted sides are MATERIALIZED: joining them inline trips a DuckDB 2.0.0 internal
-- error ("dict-surviving cache") at a million rows.
CREATE OR REPLACE TABLE {staging}.customer_attribute_changes AS
WITH incoming_wide AS (
    SELECT o.customer_id, r.name, r.mobile, r.email, r.gender, r.province, r.city,
               CAST(r.birthday AS VARCHAR) AS birthday, CAST(r.points AS VARCHAR) AS points,
               CAST(r.employees AS VARCHAR) AS employees,
               CASE WHEN $source_policy = 'all' THEN coalesce(r.initial_source, $initial_source) END
                   AS initial_source,
               CASE WHEN $source_policy = 'all'
                    THEN coalesce(r.initial_source_content, $initial_source_content) END
                   AS initial_source_content,
               CASE WHEN $source_policy = 'all' THEN CAST($campaign AS VARCHAR) END AS campaign
        FROM {staging}.customer_row_outcomes o JOIN {staging}.customer_rows r USING (row_number)
        WHERE o.outcome = 'updated'
),
incoming AS MATERIALIZED (
    UNPIVOT incoming_wide ON COLUMNS(* EXCLUDE (customer_id)) INTO NAME field VALUE new_value
),
stored_wide AS (
        SELECT customer_id, name, mobile, email, gender, province, city,
               CAST(birthday AS VARCHAR) AS birthday, CAST(points AS VARCHAR) AS points,
               CAST(employees AS VARCHAR) AS employees, initial_source, initial_source_content, campaign
        FROM customers
        WHERE customer_id IN (SELECT customer_id FROM {staging}.customer_row_outcomes WHERE outcome = 'updated')
),
stored AS MATERIALIZED (
    UNPIVOT stored_wide ON COLUMNS(* EXCLUDE (customer_id)) INTO NAME field VALUE old_value
)
SELECT i.customer_id, i.field, s.old_value, i.new_value
FROM incoming i LEFT JOIN stored s USING (customer_id, field)
WHERE i.new_value IS DISTINCT FROM s.old_value;
