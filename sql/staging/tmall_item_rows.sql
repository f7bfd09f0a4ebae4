-- tmall_item_rows: every record of a Tmall item (宝贝) report, cleaned; line_number keeps the
-- items of one order in report order. Old reports end each line with a trailing comma: an
-- empty extra cell is not a malformed row. Each cell is unwrapped once (texts).
-- The cells c0, c1, ... are carried along as columns rather than as one list: only a row
-- without an order number needs all of them (to tell whether it is empty), and building the
-- list for every row costs more than that.
CREATE OR REPLACE TABLE {staging}.tmall_item_rows AS
WITH cells AS (
    SELECT row_number, COLUMNS('^c\d+$'), {field_cells}, {overflow_cell} AS overflow
    FROM {staging}.item_file_rows
),
texts AS (
    SELECT
        row_number, COLUMNS('^c\d+$'), overflow,
        tmall_text(order_id) AS order_id,
        tmall_text(sub_order_id) AS sub_order_id,
        tmall_text(title) AS title,
        tmall_text(price) AS price_text,
        tmall_text(quantity) AS quantity_text,
        tmall_text(sku_code) AS sku_code,
        tmall_text(external_code) AS external_code,
        tmall_text(properties) AS properties,
        tmall_text(status) AS status
    FROM cells
),
judged AS (
    -- Emptiness is settled before the window, which would otherwise carry every cell along.
    SELECT
        row_number,
        tmall_row_is_empty(order_id, {raw_cells}) AS is_empty,
        coalesce(overflow, '') = '' AND {last_cell} IS NOT NULL AS cells_ok,
        order_id, sub_order_id, title, price_text, quantity_text, sku_code, external_code, properties, status
    FROM texts
)
SELECT
    row_number,
    is_empty,
    cells_ok,
    order_id,
    sub_order_id,
    row_number() OVER (PARTITION BY order_id ORDER BY row_number) AS line_number,
    title,
    money_value(price_text) AS price,
    try_cast(quantity_text AS BIGINT) AS quantity,
    sku_code,
    external_code,
    properties,
    status
FROM judged;
