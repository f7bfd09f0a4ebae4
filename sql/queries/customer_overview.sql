-- customer_overview: how customers spread over value, activity and spending power (seed 001's
-- overview). Activity is purchase recency, measured from the newest purchase in the base (the
-- data's "today", so historic backfills read sensibly); spending power is the accepted order
-- amount; value combines both scores (0–3 each): 5–6 high, 3–4 medium, 1–2 low, 0 none.
WITH scored AS (
    SELECT
        p.*,
        date_diff('day', p.last_purchase_at, (SELECT max(last_purchase_at) FROM customer_profiles)) AS idle_days,
        CASE WHEN p.order_amount >= 2000 THEN 3 WHEN p.order_amount >= 500 THEN 2
             WHEN p.order_amount > 0 THEN 1 ELSE 0 END AS spending_score
    FROM customer_profiles p
),
bucketed AS (
    SELECT
        CASE WHEN order_count = 0 THEN '6 never' WHEN idle_days <= 30 THEN '1 <=30d'
             WHEN idle_days <= 90 THEN '2 31-90d' WHEN idle_days <= 180 THEN '3 91-180d'
             WHEN idle_days <= 365 THEN '4 181-365d' ELSE '5 >365d' END AS activity,
        CASE WHEN order_amount = 0 THEN '1 0' WHEN order_amount < 100 THEN '2 <100'
             WHEN order_amount < 500 THEN '3 100-500' WHEN order_amount < 2000 THEN '4 500-2000'
             WHEN order_amount < 10000 THEN '5 2000-10000' ELSE '6 >=10000' END AS spending_power,
        spending_score + CASE WHEN order_count = 0 THEN 0 WHEN idle_days <= 90 THEN 3
                              WHEN idle_days <= 365 THEN 2 ELSE 1 END AS value_score
    FROM scored
)
SELECT 'value' AS dimension,
       CASE WHEN value_score >= 5 THEN '1 high' WHEN value_score >= 3 THEN '2 medium'
            WHEN value_score >= 1 THEN '3 low' ELSE '4 none' END AS bucket,
       count(*) AS customers
FROM bucketed GROUP BY ALL
UNION ALL
SELECT 'activity', activity, count(*) FROM bucketed GROUP BY ALL
UNION ALL
SELECT 'spending_power', spending_power, count(*) FROM bucketed GROUP BY ALL
ORDER BY dimension, bucket;
