-- tmall_order_decisions: what matching decides for every order row. An order imported before
-- keeps its customer. A new order needs an accepted status and a buyer: the
-- receiver's mobile finds its one customer or the new customer made for it; a masked mobile
-- (138****5678) matches only when exactly one customer — in the base or new from this file's
-- unmasked mobiles, so row order does not matter — has those visible digits and the receiver's
-- name. A receiver mobile that is a listed placeholder (13800000000) finds and makes no buyer: the
-- order fails placeholder_value, and no stored customer whose mobile is one is a masked match.
CREATE OR REPLACE TABLE {staging}.tmall_order_decisions AS
WITH masked_candidates AS (
    SELECT customer_id, mobile, name FROM customers
    WHERE mobile IS NOT NULL AND name IS NOT NULL AND NOT placeholder_mobile(mobile)
    UNION ALL
    SELECT customer_id, mobile, name FROM {staging}.tmall_new_customers
),
masked_matches AS (
    SELECT o.row_number, count(DISTINCT c.customer_id) AS n, min(c.customer_id) AS customer_id
    FROM {staging}.tmall_order_candidates o
    JOIN masked_candidates c
      ON left(c.mobile, 3) = left(o.receiver_mobile, 3)
     AND right(c.mobile, 4) = right(o.receiver_mobile, 4)
     AND c.name = o.receiver_name
    WHERE o.mobile_masked AND NOT o.known AND o.accepted
    GROUP BY o.row_number
)
SELECT
    o.row_number,
    CASE
        WHEN o.known THEN NULL
        WHEN NOT o.accepted THEN 'status_not_accepted'
        WHEN o.mobile_masked AND coalesce(mm.n, 0) <> 1 THEN 'masked_mobile_unmatched'
        WHEN o.mobile_masked THEN NULL
        WHEN o.mobile_placeholder THEN 'placeholder_value'
        WHEN NOT o.mobile_valid THEN 'missing_mobile'
        WHEN o.mobile_owners > 1 THEN 'ambiguous_match'
    END AS failure,
    CASE
        WHEN o.known THEN o.known_customer_id
        WHEN o.mobile_masked THEN mm.customer_id
        WHEN o.mobile_owners = 1 THEN o.mobile_owner
        ELSE n.customer_id
    END AS customer_id,
    CASE
        WHEN o.known THEN 'order_id'
        WHEN o.mobile_masked THEN 'masked_mobile'
        WHEN o.mobile_owners = 1 THEN 'mobile'
    END AS matched_by,
    o.known
FROM {staging}.tmall_order_candidates o
LEFT JOIN masked_matches mm USING (row_number)
LEFT JOIN {staging}.tmall_new_customers n ON n.mobile = o.receiver_mobile AND NOT o.known;
