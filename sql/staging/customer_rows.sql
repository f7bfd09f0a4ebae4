-- customer_rows: every record of the file with its cells cleaned into customer fields.
-- {field_cells} projects the file's columns onto catalogue fields (NULL where the file has no
-- such column), so everything after this step is independent of the file's header. The original
-- cells stay in file_rows (failures read them there): copying them here would double the staging.
-- key_marker: a key cell held an empty marker ({key_marker_cell}, is_empty_marker over the raw
-- key cells): a row left without a key by one fails placeholder_value, not missing_key.
CREATE OR REPLACE TABLE {staging}.customer_rows AS
WITH cells AS (
    SELECT row_number, {field_cells}, {overflow_cell} AS overflow,
           -- A first filled cell with a visible character settles emptiness; only the
           -- other rows (few) join all their cells.
           CASE WHEN regexp_matches({first_filled_cell}, '[^ \t\n\x0B\f\r\x{A0}\x{3000}\x{FEFF}]') THEN FALSE
                ELSE coalesce(strip_space(array_to_string({raw_cells}, '')), '') = '' END AS blank,
           {last_cell} IS NOT NULL AS last_cell_present,
           {key_marker_cell} AS key_marker
    FROM {staging}.file_rows
)
SELECT
    row_number,
    overflow IS NULL AND blank AS is_empty,
    overflow IS NULL AND last_cell_present AS cells_ok,
    key_marker,
    normalize_key(customer_id) AS customer_id,
    clean_text(name) AS name,
    normalize_mobile(mobile) AS mobile,
    normalize_email(email) AS email,
    normalize_gender(gender) AS gender,
    normalize_province(province) AS province,
    normalize_city(city) AS city,
    clean_text(birthday) AS birthday_text,
    parse_date(birthday) AS birthday,
    clean_text(points) AS points_text,
    parse_integer(points) AS points,
    clean_text(employees) AS employees_text,
    parse_integer(employees) AS employees,
    clean_text(initial_source) AS initial_source,
    clean_text(initial_source_content) AS initial_source_content,
    split_tags(tags) AS tags
FROM cells;
