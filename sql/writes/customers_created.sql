-- New customers: one per created row. Initial source fields come from the row, else from the
-- batch settings (they describe where a customer first came from).
INSERT INTO customers (customer_id, name, mobile, email, gender, province, city, birthday, points,
                       employees, initial_source, initial_source_content, campaign,
                       created_at, updated_at, created_batch_id)
SELECT o.customer_id, r.name, r.mobile, r.email, r.gender, r.province, r.city, r.birthday, r.points,
       r.employees, coalesce(r.initial_source, $initial_source),
       coalesce(r.initial_source_content, $initial_source_content), $campaign,
       $now, $now, $batch_id
FROM {staging}.customer_row_outcomes o JOIN {staging}.customer_rows r USING (row_number)
WHERE o.outcome = 'created';
