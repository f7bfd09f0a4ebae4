-- customer_row_identities: the identities each row carries, one row per (row, type, value).
-- Long form, so that matching works the same for the built-in WeChat ids and for any
-- identity type a team declares in cdp.yaml. {identity_cells} is one cleaned column per type.
CREATE OR REPLACE TABLE {staging}.customer_row_identities AS
SELECT row_number, identity_type, identity_value
FROM (UNPIVOT (SELECT row_number, {identity_cells} FROM {staging}.file_rows)
      ON COLUMNS(* EXCLUDE (row_number))
      INTO NAME identity_type VALUE identity_value);
