-- tmall_order_rows: every record of a Tmall order report with its cells cleaned: ids out of
-- ="...", apostrophes and null markers gone, money and times parsed, the receiver's mobile
-- normalised as in customer import (a masked 138****5678 kept as shown), province and city
-- taken from the address (广东省 广州市 越秀区 ...). {field_cells} maps template columns to fields.
CREATE OR REPLACE TABLE {staging}.tmall_order_rows AS
WITH cells AS (
    SELECT row_number, {field_cells}, {raw_cells} AS raw, {overflow_cell} AS overflow
    FROM {staging}.order_file_rows
),
cleaned AS (
    SELECT
        row_number,
        list_bool_and(list_transform(raw, lambda c: tmall_text(c) IS NULL)) AS is_empty,
        coalesce(overflow, '') = '' AND raw[-1] IS NOT NULL AS cells_ok,
        tmall_text(order_id) AS order_id,
        tmall_text(buyer_nick) AS buyer_nick,
        tmall_text(status) AS status,
        parse_timestamp(ordered_at) AS ordered_at,
        parse_timestamp(paid_at) AS paid_at,
        tmall_text(total_amount) AS total_amount_text,
        parse_money(total_amount) AS total_amount,
        tmall_text(paid_amount) AS paid_amount_text,
        parse_money(paid_amount) AS paid_amount,
        tmall_text(receiver_name) AS receiver_name,
        tmall_text(address) AS address,
        normalize_mobile(tmall_text(receiver_mobile)) AS receiver_mobile,
        tmall_text(shop_name) AS shop_name,
        raw
    FROM cells
)
SELECT
    *,
    regexp_full_match(coalesce(receiver_mobile, ''), '1\d{2}\*{4}\d{4}') AS mobile_masked,
    regexp_full_match(coalesce(receiver_mobile, ''), '1\d{10}') AS mobile_valid,
    normalize_province(nullif(split_part(address, ' ', 1), '')) AS province,
    normalize_city(nullif(split_part(address, ' ', 2), '')) AS city
FROM cleaned;
