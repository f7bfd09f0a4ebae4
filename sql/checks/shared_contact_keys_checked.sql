-- shared_contact_keys_checked: every mobile and email that more than one customer holds, with
-- how many hold it (issue 13's over-merge guard). Matching fails a row whose mobile or email
-- points at several customers (ambiguous_match), so a value held by many (a shop's front-desk
-- number, a stand-in address) makes every later row that carries it fail, or, before the second
-- holder appeared, merged every such row into one customer. Values held once are left out: the
-- suite only compares the counts with the limit.
SELECT
    'mobile' AS key_type,
    mobile AS key_value,
    count(*) AS customers
FROM customers
WHERE mobile IS NOT NULL
GROUP BY mobile
HAVING count(*) > 1
UNION ALL
SELECT
    'email' AS key_type,
    email AS key_value,
    count(*) AS customers
FROM customers
WHERE email IS NOT NULL
GROUP BY email
HAVING count(*) > 1
