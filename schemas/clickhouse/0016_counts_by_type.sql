-- The count rollups of 0004 (same columns, engine, writer and
-- deduplication window: see 0004) sorted by event type before time and in
-- small granules, replacing counts_hourly and counts_daily.
--
-- Why: a read with a type filter (a series, summary or breakdown for
-- type=signup) merges the visitor sketches of that type only, but sorted
-- (source_id, hour, event_type, is_bot) in granules of 8192 rows the
-- types of an hour are interleaved, so it read and deserialised the
-- sketch (up to ~24 KB) of every type of every hour in the range. Sorted
-- (source_id, event_type, hour, is_bot), a type's hours are contiguous
-- and the read touches the granules of that type alone. Reads without a
-- type filter take events and pageviews only from these tables (visitors
-- come from visitors_hourly and visitors_daily, 0010 and 0004): cheap
-- columns, read per type over the same time range.
--
-- Granules of 128 rows, as visitors_hourly (0010): a read deserialises
-- the sketch of every row of the granules it touches, and a 7-day range
-- of one source and type is ~340 hourly rows (two bot flags). Measured at
-- 10M events (S7's seeded data: 30 days, 3 sources, 6 types; 17,280
-- hourly rows, 720 daily), CPU of one statement, median of 9, against
-- the old tables:
--   7 days by hour, type=signup: 41.5 ms (old) -> 13.1 ms at 128 rows
--     (64: 13.2, 256: 14.2, 512: 17.0, 1024: 20.9, 8192: 31.1);
--   the same for one source: 40.7 -> 10.0 ms (512: 11.8);
--   7 whole days, type=signup (daily): 15.6 -> 12.7 ms (512: 19.7);
--   30 days by type (daily): 44.8 -> 36.8 ms (no granule size differs);
--   7 days by hour without a type (events, pageviews): 5.3 -> 3.6 ms;
--   the whole counts statement of /stats/series?interval=hour&type=signup
--   over 7 days (seriesCountsSQL): 67.9 -> 24.5 ms, the same answer.
-- The copy below took 1.4 s at 10M events.
CREATE TABLE IF NOT EXISTS trackstream.counts_by_type_hourly${LOCAL} ${ON_CLUSTER}
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
ORDER BY (source_id, event_type, hour, is_bot)
SETTINGS index_granularity = 128, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_by_type_hourly_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_by_type_hourly${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toStartOfHour(event_time) AS hour, event_type, is_bot, count() AS events,
    uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, hour, event_type, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.counts_by_type_hourly ${ON_CLUSTER}
AS trackstream.counts_by_type_hourly_local
ENGINE = Distributed(${CLUSTER}, trackstream, counts_by_type_hourly_local, cityHash64(source_id));

-- The same per day (UTC).
CREATE TABLE IF NOT EXISTS trackstream.counts_by_type_daily${LOCAL} ${ON_CLUSTER}
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
ORDER BY (source_id, event_type, day, is_bot)
SETTINGS index_granularity = 128, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_by_type_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_by_type_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toDate(event_time) AS day, event_type, is_bot, count() AS events,
    uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, day, event_type, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.counts_by_type_daily ${ON_CLUSTER}
AS trackstream.counts_by_type_daily_local
ENGINE = Distributed(${CLUSTER}, trackstream, counts_by_type_daily_local, cityHash64(source_id));

-- The stored rows as they are (a SummingMergeTree part's rows sum to the
-- same counts and sketches wherever they are merged). Only into an empty
-- table: a rerun after a failure between a copy and the DROPs below copies
-- nothing twice (a copy would double every count). Without block
-- deduplication: the tables' deduplication window is for retried inserts
-- of events, and must not drop a block of this copy that happens to equal
-- an earlier one. Run with the processors stopped (a processor applies
-- migrations before it consumes), as 0004, or an insert between a view's
-- creation and its copy would be counted twice.
INSERT INTO trackstream.counts_by_type_hourly
SELECT source_id, hour, event_type, is_bot, events, visitors
FROM trackstream.counts_hourly
WHERE (SELECT count() FROM trackstream.counts_by_type_hourly) = 0
SETTINGS insert_deduplicate = 0;

INSERT INTO trackstream.counts_by_type_daily
SELECT source_id, day, event_type, is_bot, events, visitors
FROM trackstream.counts_daily
WHERE (SELECT count() FROM trackstream.counts_by_type_daily) = 0
SETTINGS insert_deduplicate = 0;

-- counts_hourly and counts_daily are replaced by the tables above.
-- @cluster-only
DROP TABLE IF EXISTS trackstream.counts_hourly ${ON_CLUSTER};

DROP VIEW IF EXISTS trackstream.counts_hourly_mv${LOCAL} ${ON_CLUSTER};

DROP TABLE IF EXISTS trackstream.counts_hourly${LOCAL} ${ON_CLUSTER};

-- @cluster-only
DROP TABLE IF EXISTS trackstream.counts_daily ${ON_CLUSTER};

DROP VIEW IF EXISTS trackstream.counts_daily_mv${LOCAL} ${ON_CLUSTER};

DROP TABLE IF EXISTS trackstream.counts_daily${LOCAL} ${ON_CLUSTER};
