-- A batch's failed rows by their first reason code, most frequent first (any kind's {outcomes}).
SELECT reason_code, count(*) AS rows
FROM {outcomes}
WHERE outcome = 'failed'
-- "rows" quoted: ROWS is a keyword, which sqlfluff cannot parse as the ORDER BY column unquoted.
GROUP BY reason_code ORDER BY "rows" DESC, reason_code ASC; -- noqa: RF06
