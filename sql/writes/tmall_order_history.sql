-- Record what this export says of each order it validly lists — accepted or not — under the
-- export's date. A status not accepted now may still update the order once an earlier export
-- that created it arrives (backfills in any order).
INSERT INTO tmall_order_history (order_id, export_at, batch_id, status, ordered_at, paid_at, total_amount,
                                 paid_amount, receiver_name, receiver_mobile, province, city, address,
                                 buyer_nick, shop_name)
SELECT r.order_id, $export_at, $batch_id, r.status, r.ordered_at, r.paid_at, r.total_amount, r.paid_amount,
       r.receiver_name, r.receiver_mobile, r.province, r.city, r.address, r.buyer_nick, r.shop_name
FROM {staging}.tmall_order_candidates
JOIN {staging}.tmall_order_rows r USING (row_number);
