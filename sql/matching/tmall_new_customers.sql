-- tmall_new_customers: one new customer per receiver mobile that no customer has yet, from the
-- new orders with an accepted status (a failed order neither creates nor matches a customer).
-- Named after the receiver of the mobile's first order in the file; IDs continue the base's
-- sequence in file order.
CREATE OR REPLACE TABLE {staging}.tmall_new_customers AS
WITH buyers AS (
    SELECT receiver_mobile AS mobile,
           arg_min(receiver_name, row_number) AS name,
           arg_min(province, row_number) AS province,
           arg_min(city, row_number) AS city,
           min(row_number) AS first_row
    FROM {staging}.tmall_order_candidates
    WHERE NOT known AND accepted AND mobile_valid AND mobile_owners IS NULL
    GROUP BY receiver_mobile
),
id_base AS (
    SELECT coalesce(max(try_cast(substr(customer_id, 2) AS BIGINT)), 0) AS last_id
    FROM customers WHERE customer_id LIKE 'C%'
)
SELECT 'C' || lpad(CAST(b.last_id + row_number() OVER (ORDER BY buyers.first_row) AS VARCHAR), 10, '0') AS customer_id,
       buyers.*
FROM buyers CROSS JOIN id_base b;
