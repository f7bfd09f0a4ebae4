-- Tags that do not exist yet are created as static tags (seed 000 §2.1.3).
INSERT INTO tags (tag_id, name, kind, created_at)
SELECT (SELECT coalesce(max(tag_id), 0) FROM tags) + row_number() OVER (ORDER BY tag_name), tag_name, 'static', $now
FROM (SELECT min(tag_name) AS tag_name FROM {batch}.customer_tag_assignments GROUP BY lower(tag_name)) a
WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE lower(t.name) = lower(a.tag_name));
