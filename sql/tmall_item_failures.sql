-- Item rows whose order is not in the order report: kept as failures of the item report
-- (file_role 'items', row numbers of the item report, its original cells), so no row is lost.
-- The rows are found first and only they are joined to their cells: joining every item row's
-- cells before the order check carried the whole report through it.
INSERT INTO import_failures (batch_id, row_number, reason_code, reason, raw, reason_codes, file_role)
WITH orphans AS (
    SELECT i.row_number
    FROM {staging}.tmall_item_rows i
    WHERE NOT i.is_empty
      AND (i.order_id IS NULL
           OR i.order_id NOT IN (SELECT order_id FROM {staging}.tmall_order_rows WHERE order_id IS NOT NULL))
)
SELECT $batch_id, f.row_number, 'item_without_order', rc.reason, to_json({items_raw_cells}), ['item_without_order'], 'items'
FROM orphans o
JOIN {staging}.item_file_rows f USING (row_number)
JOIN {staging}.reason_codes rc ON rc.code = 'item_without_order';
