-- customer_row_attributes: custom attributes declared in cdp.yaml, one row per (row, attribute).
CREATE OR REPLACE TABLE {staging}.customer_row_attributes AS
SELECT row_number, attribute, value
FROM (UNPIVOT (SELECT row_number, {attribute_cells} FROM {staging}.file_rows)
      ON COLUMNS(* EXCLUDE (row_number))
      INTO NAME attribute VALUE value);
