-- customers_checked: the columns of customers the `customers` suite judges (issue 13): the key,
-- the two contact keys as stored and the birthday. Nothing is cleaned here: the suite judges
-- what the import wrote. The birthday as a nanosecond timestamp: great-expectations compares a
-- pandas datetime64[ns] column in one vectorised pass, any other date type one value at a time
-- (5 s for 1M birthdays).
SELECT
    customer_id,
    mobile,
    email,
    CAST(birthday AS TIMESTAMP_NS) AS birthday
FROM customers
