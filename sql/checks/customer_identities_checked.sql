-- customer_identities_checked: every identity with whether its customer is stored and how many
-- customers hold its value under any type (issue 13). The table has no key (sql/warehouse/
-- schema.sql): one owner per identity is the import's own work, and the suite proves it.
-- EXISTS, not a join: a duplicated customer ID must not duplicate identity rows here (the
-- customers suite reports it).
WITH value_owners AS (
    SELECT
        identity_value,
        count(DISTINCT customer_id) AS value_owners
    FROM customer_identities
    GROUP BY identity_value
)

SELECT
    i.customer_id,
    i.identity_type,
    i.identity_value,
    v.value_owners,
    CASE
        WHEN EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = i.customer_id)
            THEN TRUE
    END AS owner_found
FROM customer_identities i
INNER JOIN value_owners v ON v.identity_value = i.identity_value
