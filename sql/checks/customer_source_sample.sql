-- customer_source_sample: a sample of a customer batch's imported rows, read again from its archived
-- original into {staging} by the import's own staging (so normalised exactly as the import did),
-- each beside what the warehouse stores for the row's customer, one row per compared field, both
-- as text (SPEC §6: verify by sampling integrated records against their sources; seed 002).
-- Compared: the fields the row filled that the batch wrote — an empty cell never erases, and the
-- initial source fields reach a matched customer only under --source-policy all (the batch's
-- settings, as customers_updated.sql and customers_created.sql write them); its identities (one
-- of a type the customer held from another batch is kept by rule, so not compared), its declared
-- custom attributes, its tags with the batch's --tag names, the batch's --group.
-- Excluded before sampling, as they may rightly differ: customers changed after the batch
-- (updated_at later than its commit: only an update of a customer file sets it) and customers a
-- later customer batch imported (a Tmall batch creates customers, never changes one).
-- Sampled by a hash of the row number and $seed: the same seed draws the same rows.
WITH imported AS (
    SELECT o.row_number, o.customer_id, o.outcome
    FROM import_row_outcomes o
    WHERE o.batch_id = $batch_id AND o.outcome IN ('created', 'updated') AND o.customer_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id AND c.updated_at > $finished_at)
      AND NOT EXISTS (SELECT 1 FROM import_row_outcomes l JOIN import_batches b USING (batch_id)
                      WHERE l.customer_id = o.customer_id AND l.outcome IN ('created', 'updated')
                        AND b.kind = $kind AND b.finished_at > $finished_at)
),
sampled AS (
    SELECT i.row_number, i.customer_id, i.outcome = 'created' OR $source_policy = 'all' AS writes_source
    FROM imported i
    ORDER BY hash(i.row_number, $seed), i.row_number
    LIMIT $size
),
attributes AS (
    SELECT s.row_number, s.customer_id, unnest([
        {'field_name': 'name', 'stored_value': c.name, 'source_value': r.name},
        {'field_name': 'mobile', 'stored_value': c.mobile, 'source_value': r.mobile},
        {'field_name': 'email', 'stored_value': c.email, 'source_value': r.email},
        {'field_name': 'gender', 'stored_value': c.gender, 'source_value': r.gender},
        {'field_name': 'province', 'stored_value': c.province, 'source_value': r.province},
        {'field_name': 'city', 'stored_value': c.city, 'source_value': r.city},
        {'field_name': 'birthday', 'stored_value': CAST(c.birthday AS VARCHAR),
         'source_value': CAST(r.birthday AS VARCHAR)},
        {'field_name': 'points', 'stored_value': CAST(c.points AS VARCHAR),
         'source_value': CAST(r.points AS VARCHAR)},
        {'field_name': 'employees', 'stored_value': CAST(c.employees AS VARCHAR),
         'source_value': CAST(r.employees AS VARCHAR)},
        {'field_name': 'initial_source', 'stored_value': c.initial_source,
         'source_value': CASE WHEN s.writes_source THEN coalesce(r.initial_source, $initial_source) END},
        {'field_name': 'initial_source_content', 'stored_value': c.initial_source_content,
         'source_value': CASE WHEN s.writes_source
                              THEN coalesce(r.initial_source_content, $initial_source_content) END},
        {'field_name': 'campaign', 'stored_value': c.campaign,
         'source_value': CASE WHEN s.writes_source THEN CAST($campaign AS VARCHAR) END}
    ], recursive := TRUE)
    FROM sampled s
    JOIN {staging}.customer_rows r USING (row_number)
    LEFT JOIN customers c ON c.customer_id = s.customer_id
),
identities AS (
    SELECT s.row_number, s.customer_id, 'identity:' || i.identity_type AS field_name,
           h.identity_value AS stored_value, i.identity_value AS source_value
    FROM sampled s
    JOIN {staging}.customer_row_identities i USING (row_number)
    LEFT JOIN customer_identities h
           ON h.customer_id = s.customer_id AND h.identity_type = i.identity_type AND h.batch_id = $batch_id
    WHERE NOT EXISTS (SELECT 1 FROM customer_identities e
                      WHERE e.customer_id = s.customer_id AND e.identity_type = i.identity_type
                        AND e.batch_id IS DISTINCT FROM $batch_id)
),
custom_attributes AS (
    SELECT s.row_number, s.customer_id, 'attribute:' || a.attribute AS field_name,
           v.value AS stored_value, a.value AS source_value
    FROM sampled s
    JOIN {staging}.customer_row_attributes a USING (row_number)
    LEFT JOIN customer_attributes v ON v.customer_id = s.customer_id AND v.attribute = a.attribute
    WHERE nullif(trim(a.value), '') IS NOT NULL
),
expected_tags AS (
    -- as customer_tag_assignments.sql: the row's tags and the batch's, compared case-insensitively
    SELECT s.row_number, s.customer_id,
           list_sort(list_distinct(list_transform(
               list_concat(coalesce(r.tags, []),
                           coalesce(split_tags(array_to_string(CAST($tags AS VARCHAR[]), '|')), [])),
               lambda t: lower(t)))) AS tag_names
    FROM sampled s
    JOIN {staging}.customer_rows r USING (row_number)
),
carried_tags AS (
    SELECT e.row_number, e.customer_id, 'tags' AS field_name,
           (SELECT array_to_string(list_sort(list(DISTINCT lower(t.name))), '|')
            FROM customer_tags ct JOIN tags t USING (tag_id)
            WHERE ct.customer_id = e.customer_id AND list_contains(e.tag_names, lower(t.name))) AS stored_value,
           array_to_string(e.tag_names, '|') AS source_value
    FROM expected_tags e
    WHERE len(e.tag_names) > 0
),
memberships AS (
    SELECT s.row_number, s.customer_id, 'group' AS field_name,
           (SELECT min(g.name) FROM group_members m JOIN groups g USING (group_id)
            WHERE m.customer_id = s.customer_id AND g.name = clean_text($group)) AS stored_value,
           clean_text($group) AS source_value
    FROM sampled s
    WHERE clean_text($group) IS NOT NULL
)
-- the frame's column names, which are SQL keywords, quoted
SELECT CAST($batch_id AS VARCHAR) AS batch_id, row_number, customer_id AS "key", field_name AS "field",  -- noqa: RF06
       stored_value AS "stored", source_value AS "source"  -- noqa: RF06
FROM (
    SELECT row_number, customer_id, field_name, stored_value, source_value
    FROM attributes WHERE source_value IS NOT NULL
    UNION ALL
    SELECT row_number, customer_id, field_name, stored_value, source_value FROM identities
    UNION ALL
    SELECT row_number, customer_id, field_name, stored_value, source_value FROM custom_attributes
    UNION ALL
    SELECT row_number, customer_id, field_name, stored_value, source_value FROM carried_tags
    UNION ALL
    SELECT row_number, customer_id, field_name, stored_value, source_value FROM memberships
) compared
ORDER BY row_number, field_name;
