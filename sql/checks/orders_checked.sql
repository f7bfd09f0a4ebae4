-- orders_checked: every order with its amounts, whether its customer is stored, and whether the
-- status it first came in with (its state in the batch that created it, tmall_order_history) is
-- an accepted one (issue 13). The current status may be any: a later export updates an order
-- that was closed after a refund (SPEC §3). An order without that history row counts as not
-- accepted: nothing shows it came in accepted.
SELECT
    o.order_id,
    o.customer_id,
    CAST(o.total_amount AS DOUBLE) AS total_amount,
    CAST(o.paid_amount AS DOUBLE) AS paid_amount,
    CASE
        WHEN EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id)
            THEN TRUE
    END AS customer_found,
    coalesce((
        SELECT bool_and(accepted_order_status(h.status))
        FROM tmall_order_history h
        WHERE h.order_id = o.order_id AND h.batch_id = o.first_batch_id
    ), FALSE) AS first_status_accepted
FROM orders o
