-- Visitors per hour and bot flag over all sources together: one sketch
-- of every source's visitors, the merge of visitors_hourly's (0010)
-- per-source sketches of the hour.
--
-- Why: a series by hour over all sources merged one sketch per source and
-- hour; reading a sketch (deserialising it: below a few thousand visitors
-- a uniqCombined64 state is a hash set whose every element is inserted
-- again) is most of that statement's cost, and it grows with the number
-- of sources. Measured at 10M events over 3 sources, 7 days by hour: the
-- visitors statement fell from ~40 ms to ~23 ms reading the 168 combined
-- sketches instead of the 504 per-source ones. See
-- docs/clickhouse-schema.md, "Reading the count rollups".
--
-- The view reads what visitors_hourly's view writes, not the events: an
-- insert of events gives it one row per source, hour and bot flag of the
-- batch, whose sketches it merges. Aggregating every event a second time
-- (a view on the events grouping by hour too) cost ~4 % of ceiling C;
-- this costs nothing measurable.
--
-- Retried inserts: a sketch merged twice is the same sketch, and the
-- target has a deduplication window as the other rollups.
CREATE TABLE IF NOT EXISTS trackstream.visitors_hourly_all${LOCAL} ${ON_CLUSTER}
(
    hour     DateTime('UTC'),
    is_bot   Bool,
    visitors AggregateFunction(uniqCombined64(15), String)
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, is_bot)
SETTINGS index_granularity = 128, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.visitors_hourly_all_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.visitors_hourly_all${LOCAL}
AS SELECT hour, is_bot, uniqCombined64MergeState(15)(visitors) AS visitors
FROM trackstream.visitors_hourly${LOCAL}
GROUP BY hour, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.visitors_hourly_all ${ON_CLUSTER}
AS trackstream.visitors_hourly_all_local
ENGINE = Distributed(${CLUSTER}, trackstream, visitors_hourly_all_local, cityHash64(hour));

-- Backfill from the per-source sketches (sketches of one precision merge
-- losslessly). Run with the processors stopped (a processor applies
-- migrations before it consumes), as 0004. A sketch merged twice is the
-- same sketch, so a rerun changes no answer.
INSERT INTO trackstream.visitors_hourly_all
SELECT hour, is_bot, uniqCombined64MergeState(15)(visitors)
FROM trackstream.visitors_hourly
GROUP BY hour, is_bot;
