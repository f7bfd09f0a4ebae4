-- Cleaning macros shared by every import: each turns one raw text cell into its clean form.
-- Validation (data_contracts/customer_rows.py) then judges the clean form, so a value that
-- cleans to something impossible (a 9-digit "mobile") fails with its own reason code.

-- Surrounding white space of every kind: spaces, tabs, line breaks, full-width and no-break
-- spaces, a stray BOM (DuckDB's one-argument trim() only removes spaces). Anchored regular
-- expressions rather than trim(raw, <those characters>): the same result, 2-3x faster on
-- non-ASCII text. Macros expand inline, so the argument appears once: nested macros would
-- otherwise grow exponentially (tmall_text(normalize_mobile(...)) and the like).
CREATE OR REPLACE MACRO strip_space(raw) AS
    regexp_replace(raw, '^[ \t\n\x0B\f\r\x{A0}\x{3000}\x{FEFF}]+|[ \t\n\x0B\f\r\x{A0}\x{3000}\x{FEFF}]+$', '', 'g');

-- Full-width digits and signs to ASCII; translate is slow, and most cells are ASCII already
-- (bytes = characters). Surrounding space needs no trim: the cleaning removes every space.
CREATE OR REPLACE MACRO mobile_ascii(s) AS
    list_transform([s], lambda v: CASE WHEN strlen(v) = length(v) THEN v
                                       ELSE translate(v, '０１２３４５６７８９＋－（）　', '0123456789+-() ') END)[1];

-- Mobile (SPEC §2): full-width digits, spaces of every kind, invisible format characters
-- (Unicode Cf: zero-width marks, BOMs, and the direction marks and embeddings that phones and
-- chat apps wrap numbers in, as U+202A ... U+202C), dashes of every kind (- ‐ ‑ ‒ – — ― − ﹣ －),
-- brackets, leading apostrophes, an XLSX float suffix (13800138000.0) and the +86 / 0086 / 86
-- prefixes and a leading 0 (also both: +86 0138...) go; what remains should be 11 digits from 1.
-- Anything else is kept as cleaned, so the contract flags the row invalid_mobile. Cleaning is
-- idempotent: a cleaned value cleans to itself.
CREATE OR REPLACE MACRO mobile_cleaned(raw) AS
    regexp_replace(
        regexp_replace(
            regexp_replace(mobile_ascii(raw),
                           '[\s\p{Zs}\p{Cf}\x0B()\-\x{2010}-\x{2015}\x{2212}\x{FE63}]', '', 'g'),
            '^''+', ''),
        '^(\+?\d+)\.0+$', '\1');
-- A cell that already is 11 plain digits from 1 (most of them) skips the cleaning, and so do the
-- common export shapes, whose cleaning comes down to string functions (one match instead of five
-- regular expressions; the same result): a leading ' or 0 or a float suffix (013800138000,
-- '13800138000, 13800138000.0), or a prefix and spaces or dashes (+86 138 0013 8000, 138-0013-8000).
CREATE OR REPLACE MACRO normalize_mobile(raw) AS
    CASE WHEN regexp_full_match(raw, '1\d{10}') THEN raw
         WHEN regexp_full_match(raw, '''?0?1\d{10}(?:\.0+)?') THEN left(ltrim(raw, '''0'), 11)
         WHEN regexp_full_match(raw, '(?:\+?86|0086)?[ -]?1\d\d[ -]?\d{4}[ -]?\d{4}')
             THEN right(replace(replace(raw, ' ', ''), '-', ''), 11)
         ELSE nullif(regexp_replace(mobile_cleaned(raw), '^(?:\+?86|0086)?0?(1\d{10})$', '\1'), '') END;

-- (nfc_normalize stops at a NUL character, so text holding one is left as it is.)
CREATE OR REPLACE MACRO nfc(s) AS CASE WHEN contains(s, chr(0)) THEN s ELSE nfc_normalize(s) END;

-- Invisible characters. A key (customer ID, identity, email) or a tag is what a reader sees, so
-- one person is one customer and nothing stored shows as other text:
-- - full-width ASCII (U+FF01-FF5E, what a Chinese input method types in full-width mode) and the
--   ideographic space fold to ASCII, as NFKC folds them: ＶＩＰ is VIP, ａ＠ｘ．ｃｎ is a@x.cn. (Only
--   cells holding one are split into characters; NFKC's other compatibility characters, such as
--   ligatures, circled or mathematical letters, are no input-method forms and are kept.)
-- - every format character (Unicode Cf: zero-width space, joiners, word joiner, BOM, soft hyphen,
--   direction marks, embeddings, overrides and isolates) is removed, not refused: it is invisible,
--   so the address without it is the one a reader saw (a@x.cn with a zero-width space typed in
--   is a@x.cn), and a stored value then shows as itself (a tag \u202ePIV, shown as "VIP", is PIV);
-- - then NFC, so composed and decomposed accents are one key (as email-validator normalises).
-- ASCII text (most cells) holds none of these and skips it all.
-- (Macros expand inline and these are called on a column: a lambda binding the argument once
-- would cost more than reading the column again, so the common cells take a plain CASE.)
CREATE OR REPLACE MACRO fold_width(s) AS
    array_to_string(list_transform(string_split(s, ''), lambda c:
        CASE WHEN c BETWEEN '！' AND '～' THEN chr(unicode(c) - 65248) WHEN c = '　' THEN ' ' ELSE c END), '');
CREATE OR REPLACE MACRO visible_key(raw) AS
    CASE WHEN strlen(raw) = length(raw) THEN raw
         WHEN NOT regexp_matches(raw, '[\p{Cf}\x{3000}\x{FF01}-\x{FF5E}]') THEN nfc(raw)
         ELSE list_transform([regexp_replace(fold_width(raw), '\p{Cf}', '', 'g')], lambda w: nfc(w))[1] END;

-- Free text (names, custom attributes, sources) keeps what was typed, full-width letters too, but
-- loses the format characters that hide in it or make it show as other text; ZWNJ and ZWJ
-- (U+200C, U+200D) stay, as emoji sequences and Persian or Indic names need them.
CREATE OR REPLACE MACRO visible_text(raw) AS
    CASE WHEN strlen(raw) = length(raw) OR NOT regexp_matches(raw, '[^\P{Cf}\x{200C}\x{200D}]') THEN raw
         ELSE regexp_replace(raw, '[^\P{Cf}\x{200C}\x{200D}]', '', 'g') END;

-- Email: a visible key, trimmed and lower-cased; the contract checks its shape.
CREATE OR REPLACE MACRO normalize_email(raw) AS nullif(lower(strip_space(visible_key(raw))), '');

-- A cell that only says "no value" (NULL, null, \N, None, N/A, #N/A, 无, 空: what database tools,
-- scripts and hand-made lists write for a missing value) is an empty cell: otherwise a NULL mobile
-- fails a row that has a valid email, and an openid column of "null" makes every such row one
-- identity. Not "NaN" or "Nil": they are also given names (Nan, 楠). The words are the
-- empty_markers of data_contracts/over_merge_guard.yaml, filled in below (the braced names) by
-- cdp_pipeline.warehouse.macros_sql (declared there once; the screen is derived from them too).
-- Only short cells are matched (a length check first, then the first character, which can only
-- be a marker's first character in either case or one of the four spaces: most cells skip the
-- regular expression, which every cell of a row went through). A marker hidden by format
-- characters (a zero-width space, a BOM) or typed full-width (Ｎｕｌｌ) is the marker once made
-- visible, as keys are compared (visible_key): otherwise "\u200bnull" became the openid "null" and
-- matched every row carrying it (issue 13's probe). Only a short non-ASCII cell is made visible.
CREATE OR REPLACE MACRO empty_marker_text(t) AS
    regexp_full_match(t, '(?i)[ \t\x{A0}\x{3000}]*(?:{empty_marker_pattern})[ \t\x{A0}\x{3000}]*');
CREATE OR REPLACE MACRO without_placeholder(raw) AS
    CASE WHEN strlen(raw) <= {empty_marker_max_bytes} AND unicode(raw) IN ({empty_marker_first_characters})
              AND empty_marker_text(raw)
         THEN NULL
         WHEN strlen(raw) <= 4 * {empty_marker_max_bytes} AND strlen(raw) <> length(raw)
              AND empty_marker_text(visible_key(raw))
         THEN NULL
         ELSE raw END;
-- A key cell that held an empty marker (emptied above): a row left with no key by one fails
-- placeholder_value, not missing_key (data_contracts/customer_rows.py).
CREATE OR REPLACE MACRO is_empty_marker(raw) AS raw IS NOT NULL AND without_placeholder(raw) IS NULL;

-- Key values that identify no one (the over-merge guard): the placeholder_values of
-- data_contracts/over_merge_guard.yaml, as cleaned (normalize_mobile, normalize_email). A row
-- or an order holding one is refused with placeholder_value rather than matched or merged.
CREATE OR REPLACE MACRO placeholder_mobile(mobile) AS
    mobile IS NOT NULL AND list_contains({placeholder_mobiles}, mobile);
CREATE OR REPLACE MACRO placeholder_email(email) AS
    email IS NOT NULL AND list_contains({placeholder_emails}, email);

-- Plain text: trimmed, empty means absent (an empty cell never erases a stored value).
CREATE OR REPLACE MACRO clean_text(raw) AS nullif(strip_space(visible_text(raw)), '');

-- Case-insensitive keys (customer ID, declared identity types) compare upper-cased; WeChat ids
-- keep their case exactly (exact_key).
CREATE OR REPLACE MACRO normalize_key(raw) AS nullif(upper(strip_space(visible_key(raw))), '');
CREATE OR REPLACE MACRO exact_key(raw) AS nullif(strip_space(visible_key(raw)), '');

-- Dates: ISO, 2024/5/1, 2024年5月1日, 2024.5.1, 20240501, with or without a time (also with
-- fractions of a second, as an XLSX date-time reads, or ISO's T), or an Excel serial day number
-- (1900 date system: day 0 = 1899-12-30). Serials are five digits (1927 to 2173): a four-digit
-- number is a year, not a date, and fails. Only text that starts with a digit (its year) goes to
-- strptime, which would read "infinity", "-infinity" and "epoch" as dates.
CREATE OR REPLACE MACRO parse_date(raw) AS list_transform([strip_space(raw)], lambda s:
    CASE
        -- 8 digits: only %Y%m%d below can read them
        WHEN regexp_full_match(s, '\d{8}') THEN CAST(try_strptime(s, '%Y%m%d') AS DATE)
        WHEN regexp_full_match(s, '[1-9]\d{4}(\.\d+)?')
            THEN DATE '1899-12-30' + CAST(floor(CAST(s AS DOUBLE)) AS INTEGER)
        WHEN NOT left(s, 1) BETWEEN '0' AND '9' THEN NULL
        -- A format matches only text holding its literal characters, so text with 年 or / tries
        -- only the formats that have them (half the time of trying the whole list in turn).
        WHEN contains(s, '年') THEN CAST(try_strptime(s, '%Y年%m月%d日') AS DATE)
        WHEN contains(s, '/') THEN CAST(try_strptime(s, [
            '%Y/%m/%d', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d %H:%M:%S.%f'
        ]) AS DATE)
        ELSE CAST(try_strptime(s, [
            '%Y-%m-%d', '%Y.%m.%d', '%Y%m%d', '%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M',
            '%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M:%S.%f'
        ]) AS DATE)
    END)[1];

-- Whole numbers (points, employees): "1,234", "12.0" and full-width digits accepted; a
-- fraction such as 2.5 is not a whole number and does not parse (the row fails invalid_number).
CREATE OR REPLACE MACRO decimal_value(raw) AS
    try_cast(replace(translate(strip_space(raw), '０１２３４５６７８９', '0123456789'), ',', '') AS DECIMAL(38, 6));
-- Plain integers (most cells) cast directly; only the others go through the decimal parse.
-- A whole number beyond BIGINT does not parse either (try_cast), rather than failing the file.
CREATE OR REPLACE MACRO parse_integer(raw) AS
    coalesce(CASE WHEN NOT contains(raw, '.') THEN try_cast(raw AS BIGINT) END,
             list_transform([decimal_value(raw)], lambda d: CASE WHEN d = floor(d) THEN try_cast(d AS BIGINT) END)[1]);

-- Gender to one vocabulary: male, female, unknown.
CREATE OR REPLACE MACRO normalize_gender(raw) AS
    coalesce(
        MAP {'男': 'male', 'm': 'male', 'male': 'male', '先生': 'male', '1': 'male', 'man': 'male', '男性': 'male',
             '女': 'female', 'f': 'female', 'female': 'female', '女士': 'female', '小姐': 'female', '2': 'female',
             'woman': 'female', '女性': 'female'}[lower(strip_space(raw))],
        CASE WHEN nullif(strip_space(raw), '') IS NOT NULL THEN 'unknown' END);

-- City to its full name: a bare Chinese name gains 市 unless it already ends as a prefecture.
CREATE OR REPLACE MACRO normalize_city(raw) AS (
    CASE
        WHEN nullif(strip_space(raw), '') IS NULL THEN NULL
        WHEN regexp_full_match(strip_space(raw), '[\x{4e00}-\x{9fff}]+')
             AND NOT regexp_matches(strip_space(raw), '(省|市|自治州|盟|地区|区|县|旗)$') THEN strip_space(raw) || '市'
        ELSE strip_space(raw)
    END
);

-- Tags: one cell may hold several, split on , ， ; ； | (｜ too: the cell is a visible key first,
-- so ＶＩＰ is VIP), each trimmed; empty pieces go. Tag names compare case-insensitively
-- (customer_tag_assignments.sql), so "VIP,vip" is one tag: the first spelling is kept, in cell order.
CREATE OR REPLACE MACRO tag_pieces(raw) AS
    list_filter(list_transform(regexp_split_to_array(coalesce(visible_key(raw), ''), '[,，;；|]'),
                               lambda t: strip_space(t)),
                lambda t: t <> '');
-- (Each list is bound once to a lambda parameter, so the split and the lower-casing run once per
-- cell rather than once per tag.)
-- The SQL linter (sqlfluff) does not parse a lambda of two parameters:
-- noqa: disable=PRS,LT01
CREATE OR REPLACE MACRO first_spellings(tags) AS
    list_transform([tags], lambda ts: list_transform(
        [list_transform(ts, lambda u: lower(u))],
        lambda ls: list_filter(ts, lambda t, i: list_position(ls, ls[i]) = i)
    )[1])[1];
-- noqa: enable=PRS,LT01
-- (One or two tags, most cells, skip the search: a third of the cost.)
CREATE OR REPLACE MACRO split_tags(raw) AS list_transform([tag_pieces(raw)], lambda ts: CASE
    WHEN len(ts) < 2 THEN ts WHEN len(ts) = 2 AND lower(ts[1]) = lower(ts[2]) THEN ts[1:1]
    WHEN len(ts) = 2 THEN ts ELSE first_spellings(ts) END)[1];

-- Province to its full name (省 / 市 / 自治区 / 特别行政区): "广东" → "广东省", "北京" → "北京市".
-- Nor a MAP {...} literal as a macro's body; in brackets, the rest of the file still parses:
-- noqa: disable=PRS
CREATE OR REPLACE MACRO province_names() AS (
        MAP {
            '北京': '北京市', '天津': '天津市', '上海': '上海市', '重庆': '重庆市',
            '河北': '河北省', '山西': '山西省', '辽宁': '辽宁省', '吉林': '吉林省', '黑龙江': '黑龙江省',
            '江苏': '江苏省', '浙江': '浙江省', '安徽': '安徽省', '福建': '福建省', '江西': '江西省',
            '山东': '山东省', '河南': '河南省', '湖北': '湖北省', '湖南': '湖南省', '广东': '广东省',
            '海南': '海南省', '四川': '四川省', '贵州': '贵州省', '云南': '云南省', '陕西': '陕西省',
            '甘肃': '甘肃省', '青海': '青海省', '台湾': '台湾省',
            '内蒙古': '内蒙古自治区', '广西': '广西壮族自治区', '西藏': '西藏自治区',
            '宁夏': '宁夏回族自治区', '新疆': '新疆维吾尔自治区',
            '香港': '香港特别行政区', '澳门': '澳门特别行政区'
        }
);
-- noqa: enable=PRS
CREATE OR REPLACE MACRO normalize_province(raw) AS (
    coalesce(
        province_names()[regexp_replace(strip_space(raw), '(省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)$', '')],
        nullif(strip_space(raw), '')
    )
);

-- Region from a Tmall 收货地址 "广东省 广州市 越秀区 某某路1号(510180)": the parts are separated by
-- runs of any white space (full-width too). The first part gives the province only when it is one
-- of the 34 provinces; the second gives the city only then, and only when it is a Chinese place
-- name (no digits or street): an address without its parts stays in address, never in province.
-- (Two regexp_extracts of the leading parts: splitting or translating the whole address costs
-- several times more. Lambdas bind a part once: macros expand inline.)
CREATE OR REPLACE MACRO address_first(addr) AS
    nullif(regexp_extract(addr, '^[\s\p{Zs}\x0B\x{FEFF}]*([^\s\p{Zs}\x0B]+)', 1), '');
CREATE OR REPLACE MACRO address_second(addr) AS
    nullif(regexp_extract(addr, '^[\s\p{Zs}\x0B\x{FEFF}]*[^\s\p{Zs}\x0B]+[\s\p{Zs}\x0B]+([^\s\p{Zs}\x0B]+)', 1), '');
-- The province a first part names. normalize_province would keep an unknown name; only one of the
-- 34 counts, and every full name is found again from its short form, so the lookup alone decides.
-- (A part has no white space inside, so stripping can only take trailing BOMs, which the suffix
-- pattern absorbs.)
CREATE OR REPLACE MACRO address_part_province(part) AS
    province_names()[regexp_replace(part, '(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?\x{FEFF}*$', '')];
-- The city a second part names: Chinese characters only, so there is nothing to strip and
-- normalize_city comes down to its suffix rule.
CREATE OR REPLACE MACRO address_part_city(part) AS
    list_transform(list_filter([part], lambda c: regexp_full_match(c, '[\x{4e00}-\x{9fff}]+')),
                   lambda c: CASE WHEN regexp_matches(c, '(省|市|自治州|盟|地区|区|县|旗)$') THEN c ELSE c || '市' END)[1];
-- Both parts at once. Most addresses start with a part and a single space before the next part:
-- split_part finds those parts several times faster than the regular expressions that the
-- other addresses (leading or other white space, a lone part) need.
CREATE OR REPLACE MACRO address_parts(addr) AS
    CASE WHEN regexp_matches(addr, '^[^\s\p{Zs}\x0B\x{FEFF}][^\s\p{Zs}\x0B]* [^\s\p{Zs}\x0B]+(?: |$)')
             THEN {'first': split_part(addr, ' ', 1), 'second': split_part(addr, ' ', 2)}
         ELSE {'first': address_first(addr), 'second': address_second(addr)} END;
CREATE OR REPLACE MACRO address_province(addr) AS address_part_province(struct_extract(address_parts(addr), 'first'));
-- (tmall_order_rows.sql takes the province it already has instead of finding it again.)
CREATE OR REPLACE MACRO address_city(addr) AS
    CASE WHEN address_province(addr) IS NOT NULL
         THEN address_part_city(struct_extract(address_parts(addr), 'second')) END;

-- Personal data shown in previews, logs and Dagster metadata is masked: 138****8000, a***@x.cn.
CREATE OR REPLACE MACRO mask_mobile(m) AS
    CASE WHEN length(m) >= 7 THEN left(m, 3) || '****' || right(m, 4) WHEN m IS NOT NULL THEN '****' END;
CREATE OR REPLACE MACRO mask_email(e) AS
    CASE WHEN e LIKE '%@%' THEN left(e, 1) || '***@' || split_part(e, '@', 2) WHEN e IS NOT NULL THEN '***' END;
CREATE OR REPLACE MACRO mask_openid(o) AS
    CASE WHEN length(o) >= 10 THEN left(o, 3) || '****' || right(o, 3) WHEN o IS NOT NULL THEN '****' END;
-- An identifier shown as is (a customer ID) may be a mobile, an email or an openid: masked as one.
CREATE OR REPLACE MACRO mask_identifier(v) AS
    CASE WHEN regexp_full_match(v, '1\d{10}') THEN mask_mobile(v)
         WHEN contains(v, '@') THEN mask_email(v)
         WHEN regexp_full_match(v, '(?i)o[0-9a-z_-]{27}') THEN mask_openid(v)
         ELSE v END;

-- Cells of failure files and exports: one starting with = + - @, a tab or a carriage return (or a
-- full-width ＝ ＋ － ＠) is a formula to a spreadsheet, so it is written after a ' and shows as the
-- text it was (OWASP CSV injection). A plain number such as -5 is no formula and stays a number.
CREATE OR REPLACE MACRO excel_safe(cell) AS
    CASE WHEN left(cell, 1) IN ('=', '+', '-', '@', chr(9), chr(13), '＝', '＋', '－', '＠')
              AND NOT regexp_full_match(cell, '-?\d+(\.\d+)?') THEN '''' || cell
         ELSE cell END;

-- Tmall export cells: ids come as ="3515...", phones as '139..., empty as null, 'null or NaN.
-- Single-element lambdas bind a value once: macros expand inline, and repeating an argument
-- would repeat its whole expansion.
CREATE OR REPLACE MACRO tmall_unquoted(s) AS
    list_transform([list_transform([s], lambda v: CASE WHEN v LIKE '="%"' THEN v[3:-2] ELSE v END)[1]],
                   lambda u: CASE WHEN starts_with(u, '''') THEN u[2:] ELSE u END)[1];
CREATE OR REPLACE MACRO tmall_unwrapped(raw) AS strip_space(tmall_unquoted(strip_space(raw)));
-- Most cells are plain text, which none of the unwrapping changes: only cells that are empty,
-- start with = ' or white space, end with white space or read null/NaN take the slow path.
-- Of those, the common shapes are settled by one match each (the same result as the slow path,
-- which costs several times more): ids ="3515..." and phones '139... (digits only, so never a
-- null marker) and the null markers themselves (every order id and most phones pass here).
CREATE OR REPLACE MACRO tmall_text(raw) AS
    CASE WHEN raw = '' THEN NULL
         WHEN raw IS NULL OR NOT regexp_matches(raw, '^(?:[=''\t\n\x0B\f\r \x{A0}\x{3000}\x{FEFF}]|(?i:null|nan)$)|[\t\n\x0B\f\r \x{A0}\x{3000}\x{FEFF}]$')  -- noqa: LT05
             THEN raw
         WHEN regexp_full_match(raw, '="\d+"') THEN raw[3:-2]
         WHEN regexp_full_match(raw, '''\d+') THEN raw[2:]
         WHEN regexp_full_match(raw, '(?i)null|nan') THEN NULL
         ELSE list_filter([tmall_unwrapped(raw)], lambda t: lower(t) NOT IN ('', 'null', 'nan'))[1] END;

-- A Tmall record is empty when every cell is (null markers count as empty). Rows with their key
-- (the order number) filled are settled at once: the all-cells check runs only for the others.
CREATE OR REPLACE MACRO tmall_row_is_empty(key_text, cells) AS
    CASE WHEN key_text IS NOT NULL THEN FALSE
         ELSE list_bool_and(list_transform(cells, lambda c: tmall_text(c) IS NULL)) END;

-- Money: 12.50, 1,234.00 or 0元. *_value macros take text tmall_text already cleaned.
CREATE OR REPLACE MACRO money_value(text) AS try_cast(replace(replace(text, '元', ''), ',', '') AS DECIMAL(18, 2));
CREATE OR REPLACE MACRO parse_money(raw) AS money_value(tmall_text(raw));

-- Times as exported (2017-07-08 00:42:32) or after a save in Excel (2016/5/23 22:02); only text
-- that starts with its year ("infinity" and "epoch" would parse).
CREATE OR REPLACE MACRO timestamp_value(text) AS
    list_transform(list_filter([text], lambda t: regexp_matches(t, '^\d')),
                   lambda t: try_strptime(t, ['%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M',
                                              '%Y-%m-%d %H:%M', '%Y-%m-%d', '%Y/%m/%d']))[1];
CREATE OR REPLACE MACRO parse_timestamp(raw) AS timestamp_value(tmall_text(raw));

-- The Tmall order statuses an import accepts (SPEC §3): a new order in any other status fails
-- with status_not_accepted, and only orders in these count in a customer's purchase profile.
-- reason_codes.yaml names them in status_not_accepted's words (a test keeps the two the same).
CREATE OR REPLACE MACRO accepted_order_status(status) AS
    status IN ('交易成功', '买家已付款，等待卖家发货', '卖家已发货，等待买家确认', '卖家部分发货');
