-- Cleaning macros shared by every import: each turns one raw text cell into its clean form.
-- Validation (data_contracts/customer_rows.py) then judges the clean form, so a value that
-- cleans to something impossible (a 9-digit "mobile") fails with its own reason code.

-- Surrounding white space of every kind: spaces, tabs, line breaks, full-width and no-break
-- spaces, a stray BOM (DuckDB's one-argument trim() only removes spaces).
CREATE OR REPLACE MACRO white_space() AS
    ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160) || chr(12288) || chr(65279);
-- Macros expand inline, so the argument appears once: nested macros would otherwise grow
-- exponentially (tmall_text(normalize_mobile(...)) and the like).
CREATE OR REPLACE MACRO strip_space(raw) AS trim(raw, white_space());

-- Mobile (SPEC §2): full-width digits, spaces, dashes, a leading apostrophe, an XLSX float
-- suffix and the +86 / 0086 / 86 / 0 prefixes go; what remains should be 11 digits from 1.
CREATE OR REPLACE MACRO mobile_cleaned(raw) AS
    regexp_replace(
        regexp_replace(translate(strip_space(raw), '０１２３４５６７８９＋－（）　', '0123456789+-() '), '^''+|[\s\-()]', '', 'g'),
        '\.0+$', '');
-- A cell that already is 11 plain digits from 1 (most of them) skips the cleaning.
CREATE OR REPLACE MACRO normalize_mobile(raw) AS
    CASE WHEN regexp_full_match(raw, '1\d{10}') THEN raw
         ELSE nullif(regexp_replace(mobile_cleaned(raw), '^(?:\+?86|0086|0)(1\d{10})$', '\1'), '') END;

-- Email: trimmed and lower-cased; the contract checks its shape.
CREATE OR REPLACE MACRO normalize_email(raw) AS nullif(lower(strip_space(raw)), '');

-- Plain text: trimmed, empty means absent (an empty cell never erases a stored value).
CREATE OR REPLACE MACRO clean_text(raw) AS nullif(strip_space(raw), '');

-- Case-insensitive keys (customer ID, declared identity types) compare upper-cased.
CREATE OR REPLACE MACRO normalize_key(raw) AS nullif(upper(strip_space(raw)), '');

-- Dates: ISO, 2024/5/1, 2024年5月1日, 2024.5.1, 20240501, with or without a time, or an Excel
-- serial day number (1900 date system: day 0 = 1899-12-30). Serials are five digits (1927 to
-- 2173): a four-digit number is a year, not a date, and fails.
CREATE OR REPLACE MACRO parse_date(raw) AS (
    CASE
        WHEN regexp_full_match(strip_space(raw), '[1-9]\d{4}(\.\d+)?')
            THEN DATE '1899-12-30' + CAST(floor(CAST(strip_space(raw) AS DOUBLE)) AS INTEGER)
        ELSE CAST(try_strptime(strip_space(raw), [
            '%Y-%m-%d', '%Y/%m/%d', '%Y年%m月%d日', '%Y.%m.%d', '%Y%m%d',
            '%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y-%m-%d %H:%M'
        ]) AS DATE)
    END
);

-- Whole numbers (points, employees): "1,234", "12.0" and full-width digits accepted; a
-- fraction such as 2.5 is not a whole number and does not parse (the row fails invalid_number).
CREATE OR REPLACE MACRO decimal_value(raw) AS
    try_cast(replace(translate(strip_space(raw), '０１２３４５６７８９', '0123456789'), ',', '') AS DECIMAL(38, 6));
-- Plain integers (most cells) cast directly; only the others go through the decimal parse.
CREATE OR REPLACE MACRO parse_integer(raw) AS
    coalesce(CASE WHEN NOT contains(raw, '.') THEN try_cast(raw AS BIGINT) END,
             CASE WHEN decimal_value(raw) = floor(decimal_value(raw)) THEN CAST(decimal_value(raw) AS BIGINT) END);

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

-- Tags: one cell may hold several, split on , ， ; ； |.
CREATE OR REPLACE MACRO split_tags(raw) AS
    list_distinct(list_filter(list_transform(regexp_split_to_array(coalesce(raw, ''), '[,，;；|]'),
                                             lambda t: strip_space(t)), lambda t: t <> ''));

-- Province to its full name (省 / 市 / 自治区 / 特别行政区): "广东" → "广东省", "北京" → "北京市".
CREATE OR REPLACE MACRO normalize_province(raw) AS (
    coalesce(
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
        }[regexp_replace(strip_space(raw), '(省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)$', '')],
        nullif(strip_space(raw), '')
    )
);

-- Personal data shown in previews, logs and Dagster metadata is masked: 138****8000, a***@x.cn.
CREATE OR REPLACE MACRO mask_mobile(m) AS
    CASE WHEN length(m) >= 7 THEN left(m, 3) || '****' || right(m, 4) WHEN m IS NOT NULL THEN '****' END;
CREATE OR REPLACE MACRO mask_email(e) AS
    CASE WHEN e LIKE '%@%' THEN left(e, 1) || '***@' || split_part(e, '@', 2) WHEN e IS NOT NULL THEN '***' END;

-- Tmall export cells: ids come as ="3515...", phones as '139..., empty as null, 'null or NaN.
CREATE OR REPLACE MACRO tmall_unwrapped(raw) AS
    strip_space(regexp_replace(regexp_replace(strip_space(raw), '^="(.*)"$', '\1'), '^''', ''));
CREATE OR REPLACE MACRO tmall_text(raw) AS
    CASE WHEN lower(tmall_unwrapped(raw)) IN ('', 'null', 'nan') THEN NULL ELSE tmall_unwrapped(raw) END;

-- Money: 12.50, 1,234.00 or 0元.
CREATE OR REPLACE MACRO parse_money(raw) AS
    try_cast(replace(replace(tmall_text(raw), '元', ''), ',', '') AS DECIMAL(18, 2));

-- Times as exported (2017-07-08 00:42:32) or after a save in Excel (2016/5/23 22:02).
CREATE OR REPLACE MACRO parse_timestamp(raw) AS
    try_strptime(tmall_text(raw), ['%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y-%m-%d %H:%M',
                                   '%Y-%m-%d', '%Y/%m/%d']);
