-- New identities of imported customers. An identity type the customer already holds (with the
-- same value, or another one: one value per type and customer) is not added — the file's value
-- is dropped, not the row (seed 000 §2.2).
INSERT INTO customer_identities (customer_id, identity_type, identity_value, batch_id)
SELECT o.customer_id, i.identity_type, i.identity_value, $batch_id
FROM {staging}.customer_row_identities i
JOIN {staging}.customer_row_outcomes o USING (row_number)
WHERE o.outcome IN ('created', 'updated')
  AND NOT EXISTS (SELECT 1 FROM customer_identities h
                  WHERE h.customer_id = o.customer_id AND h.identity_type = i.identity_type);
