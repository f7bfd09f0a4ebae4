-- order_items_checked: every item line with whether its order is stored (issue 13).
SELECT
    i.order_id,
    i.line_number,
    CASE
        WHEN EXISTS (SELECT 1 FROM orders o WHERE o.order_id = i.order_id)
            THEN TRUE
    END AS order_found
FROM order_items i
