-- tmall_order_duplicates: the order rows that passed the contract and share their order number
-- with another such row. All of them fail duplicate_in_file: no row of an order silently wins.
-- A row without an order number has failed the contract (missing_order_id) and takes no part:
-- a NULL key is no order number, and grouping would make all of them one "order" (issue 14).
CREATE OR REPLACE TABLE {staging}.tmall_order_duplicates AS
WITH valid AS (
    SELECT r.row_number, r.order_id
    FROM {staging}.tmall_order_rows r
    WHERE NOT r.is_empty
      AND r.order_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM {staging}.contract_failures f WHERE f.row_number = r.row_number)
),
shared AS (
    SELECT order_id FROM valid GROUP BY order_id HAVING count(*) > 1
)
SELECT v.row_number, v.order_id
FROM valid v
JOIN shared USING (order_id);
