-- Item rows that cannot be attached to an order of the order report, kept as failures of the item
-- report (file_role 'items', row numbers of the item report, its original cells), so no row is
-- lost: a row without a valid order number fails missing_order_id (issue 14: a blank cell is no
-- order number, not an unknown one), a row whose order the order report does not list fails
-- item_without_order. The rows are found first and only they are joined to their cells: joining
-- every item row's cells before the order check carried the whole report through it.
INSERT INTO import_failures (batch_id, row_number, reason_code, reason, raw, reason_codes, file_role)
WITH judged AS (
    SELECT i.row_number,
           CASE
               WHEN i.order_id IS NULL OR NOT regexp_full_match(i.order_id, $order_id_pattern)
                   THEN 'missing_order_id'
               WHEN NOT EXISTS (SELECT 1 FROM {staging}.tmall_order_rows o WHERE o.order_id = i.order_id)
                   THEN 'item_without_order'
           END AS reason_code
    FROM {staging}.tmall_item_rows i
    WHERE NOT i.is_empty
),
failed AS (
    SELECT row_number, reason_code FROM judged WHERE reason_code IS NOT NULL
)
SELECT $batch_id, f.row_number, x.reason_code, rc.reason, to_json({items_raw_cells}), [x.reason_code], 'items'
FROM failed x
JOIN {staging}.item_file_rows f USING (row_number)
JOIN {staging}.reason_codes rc ON rc.code = x.reason_code AND rc.file_role = 'items';
