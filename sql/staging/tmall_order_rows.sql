-- tmall_order_rows: every record of a Tmall order report with its cells cleaned: ids out of
-- ="...", apostrophes and null markers gone, money and times parsed, the receiver's mobile
-- normalised as in customer import (a masked 138****5678 kept as shown), province and city
-- taken from the address (广东省 广州市 越秀区 ...). {field_cells} maps template columns to fields.
-- mobile_placeholder: the mobile is a listed placeholder value (13800000000: placeholder_mobile,
-- data_contracts/over_merge_guard.yaml); mobile_valid: a mobile a buyer can be found or made by,
-- 11 digits from 1 and no placeholder (a masked 138****0000 is neither).
-- Each cell is unwrapped once (texts); parsing works on the unwrapped text. The original cells
-- stay in order_file_rows (failures read them there).
-- The cells c0, c1, ... are carried along (as columns, which costs nothing) rather than as one
-- list: only a row without an order number needs all of them to tell whether it is empty, and
-- building the list for every row cost more than the rest of a cell's cleaning.
CREATE OR REPLACE TABLE {staging}.tmall_order_rows AS
WITH cells AS (
    SELECT row_number, COLUMNS('^c\d+$'), {field_cells}, {overflow_cell} AS overflow
    FROM {staging}.order_file_rows
),
texts AS (
    SELECT
        row_number, COLUMNS('^c\d+$'), overflow,
        tmall_text(order_id) AS order_id,
        tmall_text(buyer_nick) AS buyer_nick,
        tmall_text(status) AS status,
        tmall_text(ordered_at) AS ordered_at_text,
        tmall_text(paid_at) AS paid_at_text,
        tmall_text(total_amount) AS total_amount_text,
        tmall_text(paid_amount) AS paid_amount_text,
        tmall_text(receiver_name) AS receiver_name,
        tmall_text(address) AS address,
        tmall_text(receiver_mobile) AS receiver_mobile_text,
        tmall_text(shop_name) AS shop_name
    FROM cells
),
cleaned AS (
    SELECT
        row_number,
        tmall_row_is_empty(order_id, {raw_cells}) AS is_empty,
        coalesce(overflow, '') = '' AND {last_cell} IS NOT NULL AS cells_ok,
        order_id,
        buyer_nick,
        status,
        timestamp_value(ordered_at_text) AS ordered_at,
        timestamp_value(paid_at_text) AS paid_at,
        total_amount_text,
        money_value(total_amount_text) AS total_amount,
        paid_amount_text,
        money_value(paid_amount_text) AS paid_amount,
        receiver_name,
        address,
        normalize_mobile(receiver_mobile_text) AS receiver_mobile,
        shop_name,
        address_parts(address) AS address_parts
    FROM texts
),
located AS (
    -- address_province and address_city, with the address split once.
    SELECT * EXCLUDE (address_parts), address_part_province(address_parts.first) AS province,
           address_parts.second AS second_part
    FROM cleaned
)
SELECT
    * EXCLUDE (province, second_part),
    regexp_full_match(coalesce(receiver_mobile, ''), '1\d{2}\*{4}\d{4}') AS mobile_masked,
    placeholder_mobile(receiver_mobile) AS mobile_placeholder,
    regexp_full_match(coalesce(receiver_mobile, ''), '1\d{10}') AND NOT placeholder_mobile(receiver_mobile)
        AS mobile_valid,
    province,
    CASE WHEN province IS NOT NULL THEN address_part_city(second_part) END AS city
FROM located;
