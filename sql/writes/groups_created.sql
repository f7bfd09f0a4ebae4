-- The batch's static group, created when missing (seed 000 §2.3.4).
INSERT INTO groups (group_id, name, kind, created_at)
SELECT (SELECT coalesce(max(group_id), 0) + 1 FROM groups), $group, 'static', $now
WHERE $group IS NOT NULL AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.name = $group);
