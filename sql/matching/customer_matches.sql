-- customer_matches: for each row that passed the contract, the customer it belongs to or why
-- it fails (SPEC §2). In-file duplicates first: rows sharing a customer ID, identity, mobile or
-- email with another valid row all fail. Then the priority customer ID > identity > mobile >
-- email against the base. Rows that would land on the same existing customer are the same
-- customer written twice, so they fail as in-file duplicates too.
CREATE OR REPLACE TABLE {staging}.customer_matches AS
WITH valid AS (
    SELECT r.row_number, r.customer_id, r.mobile, r.email
    FROM {staging}.customer_rows r
    WHERE NOT r.is_empty
      AND NOT EXISTS (SELECT 1 FROM {staging}.contract_failures f WHERE f.row_number = r.row_number)
),
row_keys AS (
    SELECT row_number, 'customer_id' AS key_type, customer_id AS key_value FROM valid WHERE customer_id IS NOT NULL
    UNION ALL
    SELECT row_number, 'mobile', mobile FROM valid WHERE mobile IS NOT NULL
    UNION ALL
    SELECT row_number, 'email', email FROM valid WHERE email IS NOT NULL
    UNION ALL
    SELECT i.row_number, 'identity:' || i.identity_type, i.identity_value
    FROM {staging}.customer_row_identities i
    WHERE i.row_number IN (SELECT row_number FROM valid)
),
shared_keys AS (
    SELECT key_type, key_value FROM row_keys GROUP BY key_type, key_value HAVING count(*) > 1
),
duplicated AS (
    SELECT DISTINCT k.row_number FROM row_keys k JOIN shared_keys USING (key_type, key_value)
),
candidates AS (
    SELECT * FROM valid v WHERE NOT EXISTS (SELECT 1 FROM duplicated d WHERE d.row_number = v.row_number)
),
by_customer_id AS (
    SELECT v.row_number, c.customer_id
    FROM candidates v JOIN customers c ON c.customer_id = v.customer_id
),
identity_owners AS (
    SELECT i.row_number, ci.customer_id
    FROM {staging}.customer_row_identities i
    JOIN customer_identities ci USING (identity_type, identity_value)
    WHERE i.row_number IN (SELECT row_number FROM candidates)
),
owners AS (
    SELECT row_number, count(DISTINCT customer_id) AS n, min(customer_id) AS customer_id
    FROM identity_owners GROUP BY row_number
),
conflicts AS (
    SELECT DISTINCT o.row_number
    FROM identity_owners o JOIN by_customer_id b USING (row_number)
    WHERE o.customer_id <> b.customer_id
),
mobile_owners AS (
    SELECT mobile, count(*) AS n, min(customer_id) AS customer_id
    FROM customers WHERE mobile IN (SELECT mobile FROM candidates) GROUP BY mobile
),
email_owners AS (
    SELECT email, count(*) AS n, min(customer_id) AS customer_id
    FROM customers WHERE email IN (SELECT email FROM candidates) GROUP BY email
),
decided AS (
    SELECT
        v.row_number,
        CASE
            WHEN v.customer_id IS NOT NULL THEN 'customer_id'
            WHEN o.n IS NOT NULL THEN 'identity'
            WHEN m.n IS NOT NULL THEN 'mobile'
            WHEN e.n IS NOT NULL THEN 'email'
        END AS matched_by,
        CASE
            WHEN v.customer_id IS NOT NULL AND b.customer_id IS NULL THEN 'unknown_customer_id'
            WHEN v.customer_id IS NOT NULL AND cf.row_number IS NOT NULL THEN 'identity_conflict'
            WHEN v.customer_id IS NOT NULL THEN NULL
            WHEN o.n > 1 THEN 'ambiguous_match'
            WHEN o.n = 1 THEN NULL
            WHEN m.n > 1 THEN 'ambiguous_match'
            WHEN m.n = 1 THEN NULL
            WHEN e.n > 1 THEN 'ambiguous_match'
        END AS failure,
        CASE
            WHEN v.customer_id IS NOT NULL THEN b.customer_id
            WHEN o.n IS NOT NULL THEN o.customer_id
            WHEN m.n IS NOT NULL THEN m.customer_id
            WHEN e.n IS NOT NULL THEN e.customer_id
        END AS customer_id
    FROM candidates v
    LEFT JOIN by_customer_id b USING (row_number)
    LEFT JOIN conflicts cf USING (row_number)
    LEFT JOIN owners o USING (row_number)
    LEFT JOIN mobile_owners m ON m.mobile = v.mobile
    LEFT JOIN email_owners e ON e.email = v.email
),
same_target AS (
    SELECT customer_id FROM decided WHERE failure IS NULL AND customer_id IS NOT NULL
    GROUP BY customer_id HAVING count(*) > 1
)
SELECT row_number, 'duplicate_in_file' AS failure, NULL AS customer_id, NULL AS matched_by FROM duplicated
UNION ALL
SELECT d.row_number,
       CASE WHEN s.customer_id IS NOT NULL THEN 'duplicate_in_file' ELSE d.failure END,
       CASE WHEN d.failure IS NULL THEN d.customer_id END,
       d.matched_by
FROM decided d LEFT JOIN same_target s ON s.customer_id = d.customer_id AND d.failure IS NULL;
