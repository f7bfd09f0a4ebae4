-- Matched customers take the row's filled cells; empty cells keep the stored value. Only
-- customers with a real change get a new updated_at.
UPDATE customers AS c SET
    name = coalesce(u.name, c.name),
    mobile = coalesce(u.mobile, c.mobile),
    email = coalesce(u.email, c.email),
    gender = coalesce(u.gender, c.gender),
    province = coalesce(u.province, c.province),
    city = coalesce(u.city, c.city),
    birthday = coalesce(u.birthday, c.birthday),
    points = coalesce(u.points, c.points),
    employees = coalesce(u.employees, c.employees),
    initial_source = CASE WHEN $source_policy = 'all'
                          THEN coalesce(u.initial_source, $initial_source, c.initial_source)
                          ELSE c.initial_source END,
    initial_source_content = CASE WHEN $source_policy = 'all'
                                  THEN coalesce(u.initial_source_content, $initial_source_content,
                                                c.initial_source_content)
                                  ELSE c.initial_source_content END,
    campaign = CASE WHEN $source_policy = 'all' THEN coalesce($campaign, c.campaign) ELSE c.campaign END,
    updated_at = $now
FROM {batch}.customer_updates u
WHERE c.customer_id = u.customer_id;
