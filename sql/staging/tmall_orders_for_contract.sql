-- The columns the Tmall order contract judges, for the non-empty rows, in file order.
SELECT row_number, cells_ok, order_id, ordered_at, total_amount_text, total_amount, paid_amount_text, paid_amount
FROM {staging}.tmall_order_rows
WHERE NOT is_empty
ORDER BY row_number;
