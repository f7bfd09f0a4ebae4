-- tmall_order_candidates: the order rows that passed the contract and are not duplicated in the
-- file (tmall_order_duplicates.sql), with what the warehouse knows of them: whether the order
-- was imported before (then any later status updates it, SPEC §3), whether its status is
-- accepted, and how many customers own its receiver's mobile.
-- Only what matching needs is kept: the other fields of an order stay in tmall_order_rows (the
-- writes join them by row number), since every column stored here costs its compression and
-- write for each order of the file.
CREATE OR REPLACE TABLE {staging}.tmall_order_candidates AS
WITH valid AS (
    SELECT r.row_number, r.order_id, r.status, r.receiver_name, r.receiver_mobile, r.province, r.city,
           r.mobile_masked, r.mobile_placeholder, r.mobile_valid
    FROM {staging}.tmall_order_rows r
    WHERE NOT r.is_empty
      AND NOT EXISTS (SELECT 1 FROM {staging}.contract_failures f WHERE f.row_number = r.row_number)
      AND NOT EXISTS (SELECT 1 FROM {staging}.tmall_order_duplicates d WHERE d.row_number = r.row_number)
),
mobile_owners AS (
    SELECT mobile, count(*) AS owners, min(customer_id) AS customer_id
    FROM customers
    WHERE mobile IN (SELECT receiver_mobile FROM valid WHERE mobile_valid)
    GROUP BY mobile
)
SELECT
    v.row_number,
    v.order_id,
    v.receiver_name,
    v.receiver_mobile,
    v.province,
    v.city,
    v.mobile_masked,
    v.mobile_placeholder,
    v.mobile_valid,
    o.order_id IS NOT NULL AS known,
    o.customer_id AS known_customer_id,
    accepted_order_status(v.status) AS accepted,
    m.owners AS mobile_owners,
    m.customer_id AS mobile_owner
FROM valid v
LEFT JOIN orders o USING (order_id)
LEFT JOIN mobile_owners m ON v.mobile_valid AND m.mobile = v.receiver_mobile;
