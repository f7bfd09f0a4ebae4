-- customer_tag_assignments: the tags each imported customer should carry after this batch —
-- the row's own tags plus the batch's --tag names (cleaned like a tags cell). Tag names compare
-- case-insensitively.
CREATE OR REPLACE TABLE {staging}.customer_tag_assignments AS
SELECT DISTINCT o.customer_id, t.tag_name
FROM {staging}.customer_row_outcomes o
JOIN {staging}.customer_rows r USING (row_number)
CROSS JOIN LATERAL (SELECT unnest(list_concat(r.tags, split_tags(array_to_string(CAST($tags AS VARCHAR[]), '|'))))
                        AS tag_name) t
WHERE o.outcome IN ('created', 'updated');
