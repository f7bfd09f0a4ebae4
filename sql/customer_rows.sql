-- customer_rows: every record of the file with its cells cleaned into customer fields.
-- {field_cells} projects the file's columns onto catalogue fields (NULL where the file has no
-- such column), so everything after this step is independent of the file's header.
CREATE OR REPLACE TABLE {staging}.customer_rows AS
WITH cells AS (
    SELECT row_number, {field_cells}, {raw_cells} AS raw, {overflow_cell} AS overflow
    FROM {staging}.file_rows
)
SELECT
    row_number,
    overflow IS NULL AND coalesce(strip_space(array_to_string(raw, '')), '') = '' AS is_empty,
    overflow IS NULL AND raw[-1] IS NOT NULL AS cells_ok,
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
    split_tags(tags) AS tags,
    raw
FROM cells;
