-- points_rows: a loyalty-points file's records (客户ID, 积分) cleaned; the test kind of issue 11.
CREATE OR REPLACE TABLE {staging}.points_rows AS
SELECT row_number,
       coalesce(strip_space(array_to_string({raw_cells}, '')), '') = '' AS is_empty,
       {overflow_cell} IS NULL AS cells_ok,
       normalize_key(c0) AS customer_id,
       clean_text(c1) AS points_text,
       parse_integer(c1) AS points
FROM {staging}.file_rows;
