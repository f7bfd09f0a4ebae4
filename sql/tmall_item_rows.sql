-- tmall_item_rows: every record of a Tmall item (宝贝) report, cleaned; line_number keeps the
-- items of one order in report order. Old reports end each line with a trailing comma: an
-- empty extra cell is not a malformed row.
CREATE OR REPLACE TABLE {staging}.tmall_item_rows AS
WITH cells AS (
    SELECT row_number, {field_cells}, {raw_cells} AS raw, {overflow_cell} AS overflow
    FROM {staging}.item_file_rows
)
SELECT
    row_number,
    list_bool_and(list_transform(raw, lambda c: tmall_text(c) IS NULL)) AS is_empty,
    coalesce(overflow, '') = '' AND raw[-1] IS NOT NULL AS cells_ok,
    tmall_text(order_id) AS order_id,
    tmall_text(sub_order_id) AS sub_order_id,
    row_number() OVER (PARTITION BY tmall_text(order_id) ORDER BY row_number) AS line_number,
    tmall_text(title) AS title,
    parse_money(price) AS price,
    try_cast(tmall_text(quantity) AS BIGINT) AS quantity,
    tmall_text(sku_code) AS sku_code,
    tmall_text(external_code) AS external_code,
    tmall_text(properties) AS properties,
    tmall_text(status) AS status,
    raw
FROM cells;
