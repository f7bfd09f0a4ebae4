-- The columns the points contract judges, for the non-empty rows, in file order.
SELECT row_number, cells_ok, customer_id, points_text, points
FROM {staging}.points_rows
WHERE NOT is_empty
ORDER BY row_number;
