-- customer_matches: for each row that passed the contract, the customer it belongs to or why
-- it fails (SPEC §2). In-file duplicates first: rows sharing a customer ID, identity, mobile or
-- email with another valid row all fail. Then the priority customer ID > identity > mobile >
-- email against the base. Rows that would land on the same existing customer are the same
-- customer written twice, so they fail as in-file duplicates too.
-- Each key is grouped and joined on its own column: one GROUP BY over a union of typed keys
-- (strings built per row) and owner tables joined back to every row took twice as long (1M rows).
CREATE OR REPLACE TABLE {staging}.customer_matches AS
WITH valid AS (
    SELECT r.row_number, r.customer_id, r.mobile, r.email
    FROM {staging}.customer_rows r
    ANTI JOIN {staging}.contract_failures USING (row_number)
    WHERE NOT r.is_empty
),
valid_identities AS (
    SELECT i.row_number, i.identity_type, i.identity_value
    FROM {staging}.customer_row_identities i SEMI JOIN valid USING (row_number)
),
duplicated AS (
    SELECT v.row_number FROM valid v
    WHERE v.customer_id IN (SELECT s.customer_id FROM valid s GROUP BY s.customer_id HAVING count(*) > 1)
    UNION
    SELECT v.row_number FROM valid v
    WHERE v.mobile IN (SELECT s.mobile FROM valid s GROUP BY s.mobile HAVING count(*) > 1)
    UNION
    SELECT v.row_number FROM valid v
    WHERE v.email IN (SELECT s.email FROM valid s GROUP BY s.email HAVING count(*) > 1)
    UNION
    SELECT i.row_number FROM valid_identities i
    SEMI JOIN (
        SELECT identity_type, identity_value FROM valid_identities
        GROUP BY identity_type, identity_value HAVING count(*) > 1
    ) shared USING (identity_type, identity_value)
),
candidates AS (
    SELECT v.* FROM valid v ANTI JOIN duplicated USING (row_number)
),
by_customer_id AS (
    SELECT v.row_number, c.customer_id
    FROM candidates v JOIN customers c ON c.customer_id = v.customer_id
),
identity_owners AS (
    SELECT i.row_number, ci.customer_id
    FROM valid_identities i
    JOIN customer_identities ci USING (identity_type, identity_value)
    SEMI JOIN candidates USING (row_number)
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
    SELECT v.row_number, count(*) AS n, min(c.customer_id) AS customer_id
    FROM candidates v JOIN customers c ON c.mobile = v.mobile
    WHERE v.customer_id IS NULL
    GROUP BY v.row_number
),
email_owners AS (
    SELECT v.row_number, count(*) AS n, min(c.customer_id) AS customer_id
    FROM candidates v JOIN customers c ON c.email = v.email
    WHERE v.customer_id IS NULL
    GROUP BY v.row_number
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
    LEFT JOIN mobile_owners m USING (row_number)
    LEFT JOIN email_owners e USING (row_number)
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
