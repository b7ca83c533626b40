-- Visitors per source, hour and bot flag over every event type: one
-- sketch per hour instead of one per event type (counts_hourly), as
-- visitors_daily is for days. A series by hour over all types merged
-- counts_hourly's sketch of every (source, hour, event type, bot flag);
-- it now merges one per (source, hour, bot flag). See
-- docs/clickhouse-schema.md, "Reading the count rollups".
--
-- Granules of 128 rows (64 hours of a source): a read deserialises the
-- sketch of every row of the granules it touches (measured at 10M events,
-- 7 days by hour over 3 sources: reading the sketches 35 -> 24 ms CPU,
-- merging them per hour 51 -> 45 ms, against 8,192-row granules).
--
-- Retried inserts reach the view once, as for the tables of 0004 (a
-- deduplication window on the target, and the store inserts with
-- deduplicate_blocks_in_dependent_materialized_views = 1); a sketch is
-- idempotent anyway (a visitor seen twice changes nothing).
CREATE TABLE IF NOT EXISTS trackstream.visitors_hourly${LOCAL} ${ON_CLUSTER}
(
    source_id LowCardinality(String),
    hour      DateTime('UTC'),
    is_bot    Bool,
    visitors  AggregateFunction(uniqCombined64(15), String)
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (source_id, hour, is_bot)
SETTINGS index_granularity = 128, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.visitors_hourly_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.visitors_hourly${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toStartOfHour(event_time) AS hour, is_bot, uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, hour, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.visitors_hourly ${ON_CLUSTER}
AS trackstream.visitors_hourly_local
ENGINE = Distributed(${CLUSTER}, trackstream, visitors_hourly_local, cityHash64(source_id));

-- Backfill from counts_hourly (its sketches merged across event types:
-- the sketch the view writes, as uniqCombined64 sketches of one precision
-- merge losslessly), so it reads the rollup, not the events. Run with the
-- processors stopped (a processor applies migrations before it consumes),
-- as 0004. A sketch merged twice is the same sketch, so a rerun after a
-- failure changes no answer.
INSERT INTO trackstream.visitors_hourly
SELECT source_id, hour, is_bot, uniqCombined64MergeState(15)(visitors)
FROM trackstream.counts_hourly
GROUP BY source_id, hour, is_bot;
