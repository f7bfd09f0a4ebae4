-- Declared custom attributes of imported customers: a filled cell sets the value.
INSERT INTO customer_attributes (customer_id, attribute, value)
SELECT o.customer_id, a.attribute, a.value
FROM {staging}.customer_row_attributes a
JOIN {staging}.customer_row_outcomes o USING (row_number)
WHERE o.outcome IN ('created', 'updated') AND nullif(trim(a.value), '') IS NOT NULL
ON CONFLICT (customer_id, attribute) DO UPDATE SET value = excluded.value;
