-- customer_custom_attribute_changes: the matched customers whose declared custom attributes
-- (cdp.yaml) this batch really changes — a filled cell holding another value than the stored
-- one, or the first value. Taken before customer_attributes_upserted.sql writes them (the upsert
-- rewrites equal values too), for the batch's `unchanged` count (customer_unchanged_rows.sql).
CREATE OR REPLACE TEMP TABLE {batch}.customer_custom_attribute_changes AS
SELECT DISTINCT o.customer_id
FROM {staging}.customer_row_attributes a
JOIN {staging}.customer_row_outcomes o USING (row_number)
LEFT JOIN customer_attributes s ON s.customer_id = o.customer_id AND s.attribute = a.attribute
WHERE o.outcome = 'updated' AND nullif(trim(a.value), '') IS NOT NULL AND s.value IS DISTINCT FROM a.value;
