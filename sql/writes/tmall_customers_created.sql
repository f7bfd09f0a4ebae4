-- Customers created for the buyers of new orders: name from 收货人姓名, province and city from
-- the address.
INSERT INTO customers (customer_id, name, mobile, province, city, created_at, updated_at, created_batch_id)
SELECT customer_id, name, mobile, province, city, $now, $now, $batch_id
FROM {staging}.tmall_new_customers;
