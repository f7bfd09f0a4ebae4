-- baseline.sql: the hand-written DuckDB import that issue 12 measures `cdp import customers`
-- against — what a data team writes in an afternoon, run by `bench/probe.py baseline CSV DB` on a
-- fresh copy of the base warehouse (the variable csv_path names the file). Read the CSV (every
-- cell as text); normalise the mobile (spaces, dashes and a +86/86 prefix removed, kept only as
-- 1 and ten more digits) and the email (trimmed, lower case); drop rows with neither; keep the
-- last row of the file per mobile (else email); match by mobile, then email, against customers;
-- update the matched customers' fields (a filled cell wins; a birthday only as ISO date) and insert the others with new
-- customer IDs continuing the base's sequence: all in one transaction, on disk, then a CHECKPOINT
-- (as the floor does). What it does not do and `cdp import` does: the contract and its failure
-- file, ID and openid matching, identities, tags, events, row outcomes, the batch record.
-- Statements are separated by a semicolon at the end of a line (probe.py times each one).

BEGIN TRANSACTION;

CREATE TEMP TABLE baseline_file AS
SELECT row_number() OVER () AS row_number, *
FROM read_csv(getvariable('csv_path'), all_varchar = true, header = true);

CREATE TEMP TABLE baseline_rows AS
WITH cleaned AS (
    SELECT
        row_number,
        nullif(trim("姓名"), '') AS name,
        regexp_replace(replace(replace(coalesce("手机号码", ''), ' ', ''), '-', ''), '^\+?86', '') AS digits,
        nullif(lower(trim("邮箱")), '') AS email,
        CASE
            WHEN lower(trim("性别")) IN ('男', 'm', 'male') THEN 'male'
            WHEN lower(trim("性别")) IN ('女', 'f', 'female') THEN 'female'
        END AS gender,
        nullif(trim("省份"), '') AS province,
        nullif(trim("城市"), '') AS city,
        try_cast(trim("生日") AS DATE) AS birthday,
        try_cast(trim("积分") AS BIGINT) AS points
    FROM baseline_file
),
keyed AS (
    SELECT
        row_number, name, email, gender, province, city, birthday, points,
        CASE WHEN regexp_full_match(digits, '1\d{10}') THEN digits END AS mobile
    FROM cleaned
)
SELECT * FROM keyed
WHERE mobile IS NOT NULL OR email IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY coalesce(mobile, email) ORDER BY row_number DESC) = 1;

CREATE TEMP TABLE baseline_matches AS
WITH by_mobile AS (
    SELECT mobile, min(customer_id) AS customer_id
    FROM customers WHERE mobile IS NOT NULL GROUP BY mobile
),
by_email AS (
    SELECT lower(email) AS email, min(customer_id) AS customer_id
    FROM customers WHERE email IS NOT NULL GROUP BY lower(email)
)
SELECT
    r.*,
    coalesce(m.customer_id, e.customer_id) AS customer_id,
    CASE WHEN m.customer_id IS NOT NULL THEN 'mobile' WHEN e.customer_id IS NOT NULL THEN 'email' END AS matched_by
FROM baseline_rows AS r
LEFT JOIN by_mobile AS m ON r.mobile = m.mobile
LEFT JOIN by_email AS e ON r.email = e.email;

UPDATE customers AS c SET
    name = coalesce(u.name, c.name),
    mobile = coalesce(u.mobile, c.mobile),
    email = coalesce(u.email, c.email),
    gender = coalesce(u.gender, c.gender),
    province = coalesce(u.province, c.province),
    city = coalesce(u.city, c.city),
    birthday = coalesce(u.birthday, c.birthday),
    points = coalesce(u.points, c.points),
    updated_at = CAST(now() AS TIMESTAMP)
FROM (
    SELECT * FROM baseline_matches WHERE customer_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY row_number DESC) = 1
) AS u
WHERE c.customer_id = u.customer_id;

INSERT INTO customers (customer_id, name, mobile, email, gender, province, city, birthday, points,
                       initial_source, created_at, updated_at, created_batch_id)
SELECT
    'C' || lpad(CAST(b.last_id + row_number() OVER (ORDER BY n.row_number) AS VARCHAR), 10, '0'),
    n.name, n.mobile, n.email, n.gender, n.province, n.city, n.birthday, n.points,
    'baseline', CAST(now() AS TIMESTAMP), CAST(now() AS TIMESTAMP), 'baseline'
FROM baseline_matches AS n
CROSS JOIN (
    SELECT coalesce(max(try_cast(substr(customer_id, 2) AS BIGINT)), 0) AS last_id
    FROM customers WHERE customer_id LIKE 'C%'
) AS b
WHERE n.customer_id IS NULL;

COMMIT;

CHECKPOINT;
