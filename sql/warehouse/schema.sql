-- The customer base: the contract tables every import writes (SPEC §5, issue 3).
-- Created idempotently when a writing connection finds this file or sql/macros.sql changed
-- since they were last applied (cdp_sql_version), so an empty CDP_HOME is a valid warehouse.
--
-- customers (unique customer_id), customer_identities (unique identity_type, identity_value),
-- customer_tags (unique customer_id, tag_id) and orders (unique order_id) hold no PRIMARY KEY
-- (issue 12): DuckDB keeps an ART index per key, built on every insert and rewritten at every
-- checkpoint. In a 1M-row import into a 1M base (bench/probe.py steps) the inserts into the first
-- three were 1.8-5x slower with them, the COMMIT up to 8x, the transaction's CPU ~1.2x, and the
-- warehouse file 381 MB instead of 141 MB; in a 500k-order Tmall import the orders insert took
-- 2.2 s instead of 0.7 s and the COMMIT 2.5 s instead of 0.2 s (bench/probe.py tmall-steps).
-- Their keys stay unique by the import itself: matching fails in-file duplicates and gives each
-- created row a new ID, an identity is added only to a customer without one of its type and whose
-- row matched its owner, a tag pair only when new, an order inserted only when its id is not
-- stored (one row per id: in-file duplicates fail first) (tests/test_unique_keys.py and
-- tests/test_tmall_rules.py import overlapping files and check every key). Warehouses made with
-- the keys lose them once (cdp_pipeline.warehouse.drop_old_keys).

-- One row per customer: the fields of SPEC §2, where the customer came from, when it was created
-- and last changed, and the batch that created it.
CREATE TABLE IF NOT EXISTS customers (
    customer_id VARCHAR NOT NULL,
    name VARCHAR,
    mobile VARCHAR,
    email VARCHAR,
    gender VARCHAR,
    province VARCHAR,
    city VARCHAR,
    birthday DATE,
    points BIGINT,
    employees BIGINT,
    initial_source VARCHAR,
    initial_source_content VARCHAR,
    campaign VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    created_batch_id VARCHAR
);

-- An identity has one owner; a customer holds at most one value per identity type.
CREATE TABLE IF NOT EXISTS customer_identities (
    customer_id VARCHAR NOT NULL,
    identity_type VARCHAR NOT NULL,
    identity_value VARCHAR NOT NULL,
    batch_id VARCHAR
);

-- Custom attributes declared in cdp.yaml, one row per customer and attribute.
CREATE TABLE IF NOT EXISTS customer_attributes (
    customer_id VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL,
    value VARCHAR,
    PRIMARY KEY (customer_id, attribute)
);

-- Tags by name (compared case-insensitively); an import creates the tags it gives as static tags.
CREATE TABLE IF NOT EXISTS tags (
    tag_id BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    kind VARCHAR NOT NULL DEFAULT 'static',
    created_at TIMESTAMP
);

-- Which customer carries which tag, and the batch that gave it.
CREATE TABLE IF NOT EXISTS customer_tags (
    customer_id VARCHAR NOT NULL,
    tag_id BIGINT NOT NULL,
    batch_id VARCHAR
);

-- Static groups by name; an import with --group creates its group.
CREATE TABLE IF NOT EXISTS groups (
    group_id BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    kind VARCHAR NOT NULL DEFAULT 'static',
    created_at TIMESTAMP
);

-- The customers of each static group, and the batch that added them.
CREATE TABLE IF NOT EXISTS group_members (
    group_id BIGINT NOT NULL,
    customer_id VARCHAR NOT NULL,
    batch_id VARCHAR,
    PRIMARY KEY (group_id, customer_id)
);

-- The timeline: customer_created, attribute_changed (detail: {field: [old, new]}), tag_added.
CREATE TABLE IF NOT EXISTS customer_events (
    customer_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    batch_id VARCHAR,
    detail JSON
);

-- One row per committed import batch (a customer file or a Tmall export): its figures
-- (scanned = created + updated + failed + skipped), settings, columns and files.
CREATE TABLE IF NOT EXISTS import_batches (
    batch_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    scanned BIGINT,
    skipped BIGINT,
    created BIGINT,
    updated BIGINT,
    failed BIGINT,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    encoding VARCHAR,
    headers JSON,
    settings JSON,
    refused_columns JSON,
    unknown_columns JSON,
    failure_file VARCHAR,
    archive_file VARCHAR,
    business_date DATE,
    details JSON,  -- kind-specific figures (Tmall: orders_scanned, items_imported, ...)
    unchanged BIGINT  -- of the updated rows, those that changed nothing (NULL: not counted, Tmall)
);
-- Warehouses from before `unchanged` gain it (at the end, as in the CREATE above).
ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS unchanged BIGINT;

-- One row per source row a batch could not take: its first reason (in the words of its file),
-- every reason code, and its original cells.
CREATE TABLE IF NOT EXISTS import_failures (
    batch_id VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw JSON,
    reason_codes VARCHAR[],
    file_role VARCHAR  -- NULL: the batch's main file; 'items': a Tmall item report
);

-- Every source row's outcome (created, updated, failed, skipped) and the customer and key it
-- matched, so a customer or order can be traced to the row that made it.
CREATE TABLE IF NOT EXISTS import_row_outcomes (
    batch_id VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    outcome VARCHAR NOT NULL,
    customer_id VARCHAR,
    matched_by VARCHAR
);

-- Tmall orders (SPEC §3): one row per order id, holding its latest exported state.
CREATE TABLE IF NOT EXISTS orders (
    order_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    status VARCHAR,
    ordered_at TIMESTAMP,
    paid_at TIMESTAMP,
    total_amount DECIMAL(18, 2),
    paid_amount DECIMAL(18, 2),
    receiver_name VARCHAR,
    receiver_mobile VARCHAR,
    province VARCHAR,
    city VARCHAR,
    address VARCHAR,
    buyer_nick VARCHAR,
    shop_name VARCHAR,
    export_at TIMESTAMP,
    batch_id VARCHAR,
    first_batch_id VARCHAR
);

-- The item lines of each order, as the latest export that listed any showed them.
CREATE TABLE IF NOT EXISTS order_items (
    order_id VARCHAR NOT NULL,
    line_number BIGINT NOT NULL,
    sub_order_id VARCHAR,
    title VARCHAR,
    price DECIMAL(18, 2),
    quantity BIGINT,
    sku_code VARCHAR,
    external_code VARCHAR,
    properties VARCHAR,
    status VARCHAR,
    export_at TIMESTAMP,
    batch_id VARCHAR
);

-- Every state of an order any export showed, accepted or not, with the export's date. The
-- orders table is the latest of these by export date, so exports imported in any order end in
-- the same state as exports imported in date order (issue 4, backfills).
CREATE TABLE IF NOT EXISTS tmall_order_history (
    order_id VARCHAR NOT NULL,
    export_at TIMESTAMP NOT NULL,
    batch_id VARCHAR NOT NULL,
    status VARCHAR,
    ordered_at TIMESTAMP,
    paid_at TIMESTAMP,
    total_amount DECIMAL(18, 2),
    paid_amount DECIMAL(18, 2),
    receiver_name VARCHAR,
    receiver_mobile VARCHAR,
    province VARCHAR,
    city VARCHAR,
    address VARCHAR,
    buyer_nick VARCHAR,
    shop_name VARCHAR
);

-- Every item line any export showed for an order it validly listed, under the export's date:
-- an order's items are those of its latest export that lists any, whatever the import order.
CREATE TABLE IF NOT EXISTS tmall_item_history (
    order_id VARCHAR NOT NULL,
    export_at TIMESTAMP NOT NULL,
    batch_id VARCHAR NOT NULL,
    line_number BIGINT NOT NULL,
    sub_order_id VARCHAR,
    title VARCHAR,
    price DECIMAL(18, 2),
    quantity BIGINT,
    sku_code VARCHAR,
    external_code VARCHAR,
    properties VARCHAR,
    status VARCHAR
);

-- Each customer's purchase figures (seed 001), kept by sql/customer_profiles.sql. No key: a
-- batch deletes and inserts its customers' rows in one transaction, which DuckDB's index refuses.
CREATE TABLE IF NOT EXISTS customer_profiles (
    customer_id VARCHAR,
    points BIGINT,
    order_count BIGINT,
    order_amount DECIMAL(18, 2),
    first_purchase_at TIMESTAMP,
    last_purchase_at TIMESTAMP
);

-- Which text of this file and sql/macros.sql the warehouse has (a SHA-256 of both): applying
-- them costs ~0.1 s, paid only when they changed, not by every connection of every step.
CREATE TABLE IF NOT EXISTS cdp_sql_version (
    fingerprint VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
);
