-- The columns the pandera contract judges, for the non-empty rows, in file order: only the rows
-- it might fail. A row that passes every check of data_contracts/customer_rows.py for certain is
-- left out (most rows: pandas and pandera cost a second per million rows, this filter a tenth of
-- that). Each condition is that check's own rule, or a strict subset of it (email: the common
-- shape, COMMON_EMAIL, and not a special-use name), in the same RE2 patterns the contract runs
-- through pyarrow; tests/test_fuzz_normalisers.py keeps the patterns equal to the contract's and
-- checks that a filtered row never fails it. Every other row, and the first row always (so the
-- contract's column and dtype checks run on every file), goes to the contract, which alone
-- decides failures and their reason codes.
-- placeholder_key (the over-merge guard): the mobile or email is a listed placeholder value
-- (placeholder_mobile, placeholder_email: data_contracts/over_merge_guard.yaml): such a row always
-- goes to the contract. key_marker (a key cell held an empty marker) fails a row only when it
-- has no key, and a row without one goes anyway.
SELECT r.row_number, r.cells_ok, r.customer_id, r.mobile, r.email,
       r.birthday_text, r.birthday, r.points_text, r.points, r.employees_text, r.employees,
       coalesce(i.identity_count, 0) AS identity_count,
       r.key_marker,
       placeholder_mobile(r.mobile) OR placeholder_email(r.email) AS placeholder_key
FROM {staging}.customer_rows r
LEFT JOIN (SELECT row_number, count(*)::BIGINT AS identity_count
           FROM {staging}.customer_row_identities GROUP BY row_number) i USING (row_number)
WHERE NOT r.is_empty
  AND (
      r.row_number = (SELECT min(f.row_number) FROM {staging}.customer_rows f WHERE NOT f.is_empty)
      OR NOT coalesce(
          r.cells_ok
          AND NOT (placeholder_mobile(r.mobile) OR placeholder_email(r.email))
          AND (r.mobile IS NULL OR regexp_full_match(r.mobile, '1[0-9]{10}'))
          AND (r.email IS NULL
               OR (regexp_full_match(r.email, '[a-z0-9_+-]{1,32}(?:\.[a-z0-9_+-]{1,31})?@(?:[a-z0-9]{1,40}\.){1,4}[a-z]{2,20}')  -- noqa: LT05
                   AND NOT regexp_matches(r.email, '\.(?:arpa|invalid|local|localhost|onion|test)$')))
          AND (r.customer_id IS NOT NULL OR r.mobile IS NOT NULL OR r.email IS NOT NULL
               OR coalesce(i.identity_count, 0) > 0)
          AND (r.birthday IS NOT NULL OR r.birthday_text IS NULL)
          AND (r.points IS NOT NULL OR r.points_text IS NULL)
          AND (r.employees IS NOT NULL OR r.employees_text IS NULL),
          FALSE)
  )
ORDER BY r.row_number;
