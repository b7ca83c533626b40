-- Events, pageviews and a visitor sketch per source, minute and bot flag,
-- kept for good: what whole minutes of a dashboard range read (a series
-- by minute, and the partial hours at either end of a range not on whole
-- hours). A raw read of them cannot use the events sort key below the
-- day (source_id, toDate(event_time), ...), so each such read cost a
-- whole day's rows and grew with the site; this table's rows grow with
-- minutes and sources only. counts_minute (0008) is exact but holds a
-- day; this one holds every minute and its visitors are uniqCombined64(15)
-- sketches, the kind of counts_hourly and visitors_hourly, so its states
-- merge with theirs and with the sketches the API takes of event rows.
-- See docs/clickhouse-schema.md, "Reading the count rollups".
--
-- No event type: one sketch per minute instead of one per type. A filter
-- on event types reads the hourly rollups and event rows, as before.
-- Pageviews are their own count for the same reason.
--
-- Plain counts are exact because no copy of an event reaches the events
-- table after 0004 (see its header). Retried inserts reach the view once:
-- the target has a deduplication window (non_replicated_deduplication_window;
-- Replicated tables deduplicate through Keeper by default) and the store
-- inserts with deduplicate_blocks_in_dependent_materialized_views = 1.
--
-- Granules of 256 rows (about four hours of a source): a read
-- deserialises the sketch of every row of the granules it touches.
CREATE TABLE IF NOT EXISTS trackstream.counts_minutely${LOCAL} ${ON_CLUSTER}
(
    source_id LowCardinality(String),
    minute    DateTime('UTC'),
    is_bot    Bool,
    events    UInt64,
    pageviews UInt64,
    visitors  AggregateFunction(uniqCombined64(15), String)
)
ENGINE = ${REPLICATED}SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (source_id, minute, is_bot)
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_minutely_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_minutely${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toStartOfMinute(event_time) AS minute, is_bot, count() AS events,
    countIf(event_type IN ('page', 'page-view', 'screen')) AS pageviews,
    uniqCombined64StateIf(15)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, minute, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.counts_minutely ${ON_CLUSTER}
AS trackstream.counts_minutely_local
ENGINE = Distributed(${CLUSTER}, trackstream, counts_minutely_local, cityHash64(source_id));

-- Backfill from the events stored before this migration, each
-- (source_id, event_id) once, at its earliest copy's time with that
-- copy's type, bot flag and visitor, as 0004 filled the hourly and daily
-- rollups: copies stored before 0004 (all received by the copy horizon,
-- 0011) land in the minute of the hour counts_hourly counted them in, so
-- minutes and hours of one range add up. One pass over the events with
-- the group by spilled to disk past 1 GB. Run with the processors
-- stopped (a processor applies migrations before it consumes), as 0004.
INSERT INTO trackstream.counts_minutely
SELECT source_id, toStartOfMinute(t) AS minute, f.2 AS is_bot, count(),
    countIf(f.1 IN ('page', 'page-view', 'screen')), uniqCombined64StateIf(15)(f.3, f.3 != '')
FROM (SELECT source_id, min(event_time) AS t,
        argMin((event_type, is_bot, multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id)), event_time) AS f
      FROM trackstream.events GROUP BY source_id, event_id)
GROUP BY source_id, minute, is_bot
SETTINGS max_bytes_before_external_group_by = 1000000000;
