-- The columns the pandera contract judges, for the non-empty rows, in file order.
SELECT r.row_number, r.cells_ok, r.customer_id, r.mobile, r.email,
       r.birthday_text, r.birthday, r.points_text, r.points, r.employees_text, r.employees,
       coalesce(i.identity_count, 0) AS identity_count
FROM {staging}.customer_rows r
LEFT JOIN (SELECT row_number, count(*)::BIGINT AS identity_count
           FROM {staging}.customer_row_identities GROUP BY row_number) i USING (row_number)
WHERE NOT r.is_empty
ORDER BY r.row_number;
