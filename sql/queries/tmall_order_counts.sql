-- The figures of a Tmall import (issue 4's JSON keys): orders scanned, imported and failed,
-- customers created by this import and existing customers matched by its imported orders.
SELECT
    (SELECT count(*) FILTER (WHERE outcome <> 'skipped') FROM {staging}.tmall_order_outcomes) AS orders_scanned,
    (SELECT count(*) FILTER (WHERE outcome IN ('created', 'updated')) FROM {staging}.tmall_order_outcomes)
        AS orders_imported,
    (SELECT count(*) FILTER (WHERE outcome = 'failed') FROM {staging}.tmall_order_outcomes) AS orders_failed,
    (SELECT count(*) FROM {staging}.tmall_item_rows i
     WHERE NOT i.is_empty AND i.order_id IN (SELECT order_id FROM {staging}.tmall_order_outcomes
                                            WHERE outcome IN ('created', 'updated'))) AS items_imported,
    (SELECT count(*) FROM {staging}.tmall_new_customers) AS customers_created,
    (SELECT count(DISTINCT o.customer_id) FROM {staging}.tmall_order_outcomes o
     WHERE o.outcome IN ('created', 'updated')
       AND NOT EXISTS (SELECT 1 FROM {staging}.tmall_new_customers n WHERE n.customer_id = o.customer_id))
        AS customers_matched;
