-- customer_tag_assignments: the tags each imported customer should carry after this batch —
-- its row's own tags plus the batch's --tag names (cleaned like a tags cell). Tag names compare
-- case-insensitively.
CREATE OR REPLACE TEMP TABLE {batch}.customer_tag_assignments AS
SELECT DISTINCT b.customer_id, t.tag_name
FROM {batch}.batch_customers b
CROSS JOIN LATERAL (SELECT unnest(list_concat(b.tags, split_tags(array_to_string(CAST($tags AS VARCHAR[]), '|'))))
                        AS tag_name) t;
