-- The realtime panel over every event type (no type filter, its default
-- view): counts_minute (0008) per source, minute and bot flag with the
-- event types together, and under source_id '' the same over all sources
-- together (no source has an empty id: internal/sources refuses it), each
-- row with one exact visitor and one exact session set.
--
-- Why: without a type filter the realtime statement merged every type's
-- and every source's sets of a minute, and a visitor is in the set of each
-- type and source it sent that minute; reading a uniqExact state inserts
-- each of its elements again, so that merge was most of the statement's
-- cost. Measured on the 100M-event query dataset's live day, the last 60
-- minutes over all sources: 124k set elements in 1,080 per-type rows
-- against 73k in 60 rows here. See docs/clickhouse-schema.md, "The
-- realtime panel".
--
-- Readers over all sources read source_id = '' only, readers of a source
-- that source only: never both (the events would count twice).
--
-- The view reads what counts_minute's view writes, not the events, as
-- visitors_hourly_all (0017) does on visitors_hourly: an insert of events
-- gives it counts_minute's rows of the batch (per source, minute, type and
-- bot flag), which it merges per source and over all sources; events
-- older than a day reach neither table. Retried inserts: the store
-- inserts with deduplicate_blocks_in_dependent_materialized_views = 1 and
-- this target has a deduplication window as counts_minute, so a retry
-- counts no event twice (the sets would not change anyway).
--
-- Kept for a day and read in granules of 256 rows, as counts_minute.
CREATE TABLE IF NOT EXISTS trackstream.counts_minute_all_types${LOCAL} ${ON_CLUSTER}
(
    source_id LowCardinality(String),
    minute    DateTime('UTC'),
    is_bot    Bool,
    events    UInt64,
    visitors  AggregateFunction(uniqExact, String),
    sessions  AggregateFunction(uniqExact, String)
)
ENGINE = ${REPLICATED}SummingMergeTree
ORDER BY (source_id, minute, is_bot)
TTL minute + INTERVAL 1 DAY
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_minute_all_types_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_minute_all_types${LOCAL}
AS SELECT src AS source_id, minute, is_bot, sum(events) AS events,
    uniqExactMergeState(visitors) AS visitors, uniqExactMergeState(sessions) AS sessions
FROM trackstream.counts_minute${LOCAL}
ARRAY JOIN [toString(source_id), ''] AS src
GROUP BY src, minute, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.counts_minute_all_types ${ON_CLUSTER}
AS trackstream.counts_minute_all_types_local
ENGINE = Distributed(${CLUSTER}, trackstream, counts_minute_all_types_local, cityHash64(source_id));

-- Backfill the last day from counts_minute (a day of rows at most: its
-- TTL), in one insert, only into an empty table, so a rerun after a start
-- interrupted before the migration was recorded counts nothing twice.
-- Run with the processors stopped (a processor applies migrations before
-- it consumes), as 0004. The columns have no aliases: the WHERE would
-- read an alias named as a column instead of the column.
INSERT INTO trackstream.counts_minute_all_types
SELECT src, minute, is_bot, sum(events), uniqExactMergeState(visitors), uniqExactMergeState(sessions)
FROM trackstream.counts_minute
ARRAY JOIN [toString(source_id), ''] AS src
WHERE (SELECT count() FROM trackstream.counts_minute_all_types) = 0
GROUP BY src, minute, is_bot;
