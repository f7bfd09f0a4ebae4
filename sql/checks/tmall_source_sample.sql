-- tmall_source_sample: a sample of a Tmall batch's imported orders, read again from its archived
-- order report into {staging} by the import's own staging (cleaned exactly as the import did),
-- each beside the stored order, one row per order field, both as text (SPEC §6: verify by
-- sampling integrated records against their sources; seed 002). An order takes every field of
-- its latest state (tmall_orders_updated.sql), so an empty source field is compared too.
-- Excluded before sampling, as they may rightly differ: orders another export's state outranks
-- (a later export date, or the same date and a later batch: the ranking of
-- tmall_latest_orders.sql, so a backfilled older export imported last is not held to it).
-- Money renders without trailing zeros, times as YYYY-MM-DD HH:MM:SS, on both sides alike.
-- Sampled by a hash of the row number and $seed: the same seed draws the same rows.
WITH imported AS (
    SELECT o.row_number, r.order_id
    FROM import_row_outcomes o
    JOIN {staging}.tmall_order_rows r USING (row_number)
    WHERE o.batch_id = $batch_id AND o.outcome IN ('created', 'updated')
      AND NOT EXISTS (SELECT 1 FROM tmall_order_history h
                      WHERE h.order_id = r.order_id AND h.batch_id <> $batch_id
                        AND (h.export_at > CAST($export_at AS TIMESTAMP)
                             OR (h.export_at = CAST($export_at AS TIMESTAMP) AND h.batch_id > $batch_id)))
),
sampled AS (
    SELECT i.row_number, i.order_id
    FROM imported i
    ORDER BY hash(i.row_number, $seed), i.row_number
    LIMIT $size
),
compared AS (
    SELECT s.row_number, s.order_id, unnest([
        {'field_name': 'status', 'stored_value': o.status, 'source_value': r.status},
        {'field_name': 'ordered_at', 'stored_value': CAST(o.ordered_at AS VARCHAR),
         'source_value': CAST(r.ordered_at AS VARCHAR)},
        {'field_name': 'paid_at', 'stored_value': CAST(o.paid_at AS VARCHAR),
         'source_value': CAST(r.paid_at AS VARCHAR)},
        {'field_name': 'total_amount',
         'stored_value': regexp_replace(CAST(CAST(o.total_amount AS DECIMAL(18, 2)) AS VARCHAR), '\.?0+$', ''),
         'source_value': regexp_replace(CAST(CAST(r.total_amount AS DECIMAL(18, 2)) AS VARCHAR), '\.?0+$', '')},
        {'field_name': 'paid_amount',
         'stored_value': regexp_replace(CAST(CAST(o.paid_amount AS DECIMAL(18, 2)) AS VARCHAR), '\.?0+$', ''),
         'source_value': regexp_replace(CAST(CAST(r.paid_amount AS DECIMAL(18, 2)) AS VARCHAR), '\.?0+$', '')},
        {'field_name': 'receiver_name', 'stored_value': o.receiver_name, 'source_value': r.receiver_name},
        {'field_name': 'receiver_mobile', 'stored_value': o.receiver_mobile, 'source_value': r.receiver_mobile},
        {'field_name': 'province', 'stored_value': o.province, 'source_value': r.province},
        {'field_name': 'city', 'stored_value': o.city, 'source_value': r.city},
        {'field_name': 'address', 'stored_value': o.address, 'source_value': r.address},
        {'field_name': 'buyer_nick', 'stored_value': o.buyer_nick, 'source_value': r.buyer_nick},
        {'field_name': 'shop_name', 'stored_value': o.shop_name, 'source_value': r.shop_name},
        {'field_name': 'export_at', 'stored_value': CAST(o.export_at AS VARCHAR),
         'source_value': CAST(CAST($staged_export_at AS TIMESTAMP) AS VARCHAR)}
    ], recursive := TRUE)
    FROM sampled s
    JOIN {staging}.tmall_order_rows r USING (row_number)
    LEFT JOIN orders o ON o.order_id = s.order_id
)
-- the frame's column names, which are SQL keywords, quoted
SELECT CAST($batch_id AS VARCHAR) AS batch_id, row_number, order_id AS "key", field_name AS "field",  -- noqa: RF06
       stored_value AS "stored", source_value AS "source"  -- noqa: RF06
FROM compared
ORDER BY row_number, field_name;
