-- Count rollups for dashboards, replacing events_hourly (whose uniqExact
-- states held every event id: larger than the events and as slow to merge
-- as a raw scan). See docs/clickhouse-schema.md, "Read path".
--
-- Plain counts are exact only because no copy of an event reaches the
-- events table after this migration: the store looks every batch up in
-- event_ids (below) and drops the events already stored, and inserts with
-- deduplicate_blocks_in_dependent_materialized_views = 1, so a retried
-- insert (same insert_deduplication_token) reaches no view twice. Every
-- view target therefore has a deduplication window
-- (non_replicated_deduplication_window; Replicated tables deduplicate
-- through Keeper by default, replicated_deduplication_window).
--
-- Visitors are uniqCombined64 sketches (HyperLogLog above a few thousand
-- distinct visitors): inserting a visitor twice changes nothing, and the
-- API labels every figure taken from them as an estimate.

-- The ids of stored events, for write-time deduplication. id_hash is
-- cityHash64(event_id); a lookup by (source_id, id_hash) also returns the
-- id, so a hash collision never drops an event that is not a copy.
CREATE TABLE IF NOT EXISTS trackstream.event_ids${LOCAL} ${ON_CLUSTER}
(
    source_id LowCardinality(String),
    id_hash   UInt64,
    event_id  String CODEC(ZSTD(1))
)
ENGINE = ${REPLICATED}ReplacingMergeTree
ORDER BY (source_id, id_hash)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.event_ids_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.event_ids${LOCAL}
AS SELECT source_id, cityHash64(event_id) AS id_hash, event_id
FROM trackstream.events${LOCAL};

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.event_ids ${ON_CLUSTER}
AS trackstream.event_ids_local
ENGINE = Distributed(${CLUSTER}, trackstream, event_ids_local, cityHash64(source_id, event_id));

-- Events per source, hour, event type and bot flag, with a visitor sketch.
CREATE TABLE IF NOT EXISTS trackstream.counts_hourly${LOCAL} ${ON_CLUSTER}
(
    source_id  LowCardinality(String),
    hour       DateTime('UTC'),
    event_type LowCardinality(String),
    is_bot     Bool,
    events     UInt64,
    visitors   AggregateFunction(uniqCombined64(15), String)
)
ENGINE = ${REPLICATED}SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (source_id, hour, event_type, is_bot)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_hourly_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_hourly${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toStartOfHour(event_time) AS hour, event_type, is_bot, count() AS events,
    uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, hour, event_type, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.counts_hourly ${ON_CLUSTER}
AS trackstream.counts_hourly_local
ENGINE = Distributed(${CLUSTER}, trackstream, counts_hourly_local, cityHash64(source_id));

-- The same per day (UTC): what whole days of a range read.
CREATE TABLE IF NOT EXISTS trackstream.counts_daily${LOCAL} ${ON_CLUSTER}
(
    source_id  LowCardinality(String),
    day        Date,
    event_type LowCardinality(String),
    is_bot     Bool,
    events     UInt64,
    visitors   AggregateFunction(uniqCombined64(15), String)
)
ENGINE = ${REPLICATED}SummingMergeTree
PARTITION BY toYear(day)
ORDER BY (source_id, day, event_type, is_bot)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toDate(event_time) AS day, event_type, is_bot, count() AS events,
    uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, day, event_type, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.counts_daily ${ON_CLUSTER}
AS trackstream.counts_daily_local
ENGINE = Distributed(${CLUSTER}, trackstream, counts_daily_local, cityHash64(source_id));

-- Visitors per source, day and bot flag over every event type: one sketch
-- per day instead of one per type.
CREATE TABLE IF NOT EXISTS trackstream.visitors_daily${LOCAL} ${ON_CLUSTER}
(
    source_id LowCardinality(String),
    day       Date,
    is_bot    Bool,
    visitors  AggregateFunction(uniqCombined64(15), String)
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (source_id, day, is_bot)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.visitors_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.visitors_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toDate(event_time) AS day, is_bot, uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, day, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.visitors_daily ${ON_CLUSTER}
AS trackstream.visitors_daily_local
ENGINE = Distributed(${CLUSTER}, trackstream, visitors_daily_local, cityHash64(source_id));

-- Breakdowns: events and a visitor sketch per dimension value and day.
-- Sorted by value, so the visitors of the top values read few granules.
CREATE TABLE IF NOT EXISTS trackstream.dims_daily${LOCAL} ${ON_CLUSTER}
(
    dim       LowCardinality(String),
    value     String CODEC(ZSTD(1)),
    day       Date,
    source_id LowCardinality(String),
    is_bot    Bool,
    events    UInt64,
    visitors  AggregateFunction(uniqCombined64(12), String)
)
ENGINE = ${REPLICATED}SummingMergeTree
PARTITION BY toYear(day)
ORDER BY (dim, value, day, source_id, is_bot)
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.dims_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.dims_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT d.1 AS dim, d.2 AS value, toDate(event_time) AS day, source_id, is_bot, count() AS events,
    uniqCombined64StateIf(12)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
ARRAY JOIN [('name', toString(name)), ('page', url_path), ('host', toString(url_host)),
    ('referrer_host', toString(referrer_host)), ('referrer_medium', toString(referrer_medium)),
    ('utm_source', toString(utm_source)), ('utm_medium', toString(utm_medium)), ('utm_campaign', toString(utm_campaign)),
    ('utm_term', utm_term), ('utm_content', utm_content), ('country', toString(country)), ('region', toString(region)),
    ('city', toString(city)), ('browser', toString(browser)), ('os', toString(os)), ('device', toString(device_type))] AS d
GROUP BY dim, value, day, source_id, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.dims_daily ${ON_CLUSTER}
AS trackstream.dims_daily_local
ENGINE = Distributed(${CLUSTER}, trackstream, dims_daily_local, cityHash64(dim, value));

-- Backfill from the events stored before this migration, each
-- (source_id, event_id) once, at its earliest copy's time (stored copies
-- of older versions collapse here; ReplacingMergeTree never merged those
-- whose times fell on different days). Run with the processors stopped
-- (a processor applies migrations before it consumes), or an insert
-- between a view's creation and its backfill would be counted twice.
INSERT INTO trackstream.event_ids
SELECT source_id, cityHash64(event_id), event_id FROM trackstream.events
GROUP BY source_id, event_id
SETTINGS max_bytes_before_external_group_by = 1000000000;

INSERT INTO trackstream.counts_hourly
SELECT source_id, toStartOfHour(t) AS hour, f.1 AS event_type, f.2 AS is_bot, count(), uniqCombined64StateIf(15)(f.3, f.3 != '')
FROM (SELECT source_id, min(event_time) AS t,
        argMin((event_type, is_bot, multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id)), event_time) AS f
      FROM trackstream.events GROUP BY source_id, event_id)
GROUP BY source_id, hour, event_type, is_bot
SETTINGS max_bytes_before_external_group_by = 1000000000;

INSERT INTO trackstream.counts_daily
SELECT source_id, day, event_type, is_bot, sum(events), uniqCombined64MergeState(15)(visitors)
FROM trackstream.counts_hourly
GROUP BY source_id, toDate(hour) AS day, event_type, is_bot;

INSERT INTO trackstream.visitors_daily
SELECT source_id, day, is_bot, uniqCombined64MergeState(15)(visitors)
FROM trackstream.counts_hourly
GROUP BY source_id, toDate(hour) AS day, is_bot;

INSERT INTO trackstream.dims_daily
SELECT d.1 AS dim, d.2 AS value, toDate(t) AS day, source_id, f.1 AS is_bot, count(), uniqCombined64StateIf(12)(f.2, f.2 != '')
FROM (SELECT source_id, min(event_time) AS t,
        argMin((is_bot, multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id),
            [('name', toString(name)), ('page', url_path), ('host', toString(url_host)),
             ('referrer_host', toString(referrer_host)), ('referrer_medium', toString(referrer_medium)),
             ('utm_source', toString(utm_source)), ('utm_medium', toString(utm_medium)), ('utm_campaign', toString(utm_campaign)),
             ('utm_term', utm_term), ('utm_content', utm_content), ('country', toString(country)), ('region', toString(region)),
             ('city', toString(city)), ('browser', toString(browser)), ('os', toString(os)), ('device', toString(device_type))]), event_time) AS f
      FROM trackstream.events GROUP BY source_id, event_id)
ARRAY JOIN f.3 AS d
GROUP BY dim, value, day, source_id, is_bot
SETTINGS max_bytes_before_external_group_by = 1000000000;

-- events_hourly is replaced by the tables above.
-- @cluster-only
DROP TABLE IF EXISTS trackstream.events_hourly ${ON_CLUSTER};

DROP VIEW IF EXISTS trackstream.events_hourly_mv${LOCAL} ${ON_CLUSTER};

DROP TABLE IF EXISTS trackstream.events_hourly${LOCAL} ${ON_CLUSTER};
