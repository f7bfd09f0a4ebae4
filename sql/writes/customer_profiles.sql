-- customer_profiles: each customer's purchase figures (seed 001: points, order count, order
-- amount, first and last purchase), over accepted orders only — a refunded, closed order stays
-- in orders with its status but no longer counts. Recomputed for the customers in
-- {profile_scope}: a batch's own (profile_customers.sql) in its import transaction, so an import
-- costs what it touches, not the size of the base; `customers` recomputes every profile (a test
-- proves the per-batch profiles equal that).
DELETE FROM customer_profiles WHERE customer_id IN (SELECT customer_id FROM {profile_scope});
INSERT INTO customer_profiles
SELECT
    c.customer_id,
    c.points,
    count(o.order_id) AS order_count,
    coalesce(sum(o.paid_amount), 0)::DECIMAL(18, 2) AS order_amount,
    min(o.ordered_at) AS first_purchase_at,
    max(o.ordered_at) AS last_purchase_at
FROM customers c
LEFT JOIN orders o
    ON o.customer_id = c.customer_id
   AND accepted_order_status(o.status)
WHERE c.customer_id IN (SELECT customer_id FROM {profile_scope})
GROUP BY c.customer_id, c.points;
