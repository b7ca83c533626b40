-- Session rollup for the session figures (bounce rate, session duration,
-- sessions started): per source, hour, bot flag and session, the first
-- and last event time and the smallest and largest event id. min and max
-- are idempotent, so an event stored twice (a client retry, or a block
-- the materialized view saw twice) changes nothing: the rollup is exact,
-- like the events table queries. A session that spans hours has a row
-- per hour; queries merge them with min/max ... GROUP BY session_id. A
-- session is one event (a bounce) when min(min_event) = max(max_event)
-- and one source. See docs/clickhouse-schema.md.
CREATE TABLE IF NOT EXISTS trackstream.events_sessions${LOCAL} ${ON_CLUSTER}
(
    source_id  LowCardinality(String),
    hour       DateTime('UTC'),
    is_bot     Bool,
    session_id String CODEC(ZSTD(1)),
    first      SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(DoubleDelta, ZSTD(1)),
    last       SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(DoubleDelta, ZSTD(1)),
    min_event  SimpleAggregateFunction(min, String) CODEC(ZSTD(1)),
    max_event  SimpleAggregateFunction(max, String) CODEC(ZSTD(1))
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (source_id, hour, is_bot, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.events_sessions_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.events_sessions${LOCAL}
AS SELECT
    source_id,
    toStartOfHour(event_time) AS hour,
    is_bot,
    session_id,
    min(event_time) AS first,
    max(event_time) AS last,
    min(event_id) AS min_event,
    max(event_id) AS max_event
FROM trackstream.events${LOCAL}
WHERE session_id != ''
GROUP BY source_id, hour, is_bot, session_id;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.events_sessions ${ON_CLUSTER}
AS trackstream.events_sessions_local
ENGINE = Distributed(${CLUSTER}, trackstream, events_sessions_local, cityHash64(session_id));

-- Backfill from the events stored before this migration. Rows the view
-- also wrote while this ran are harmless: min and max of a row twice are
-- the same. A large events table makes this a long GROUP BY, once; it
-- spills to disk rather than exhausting memory.
INSERT INTO trackstream.events_sessions
SELECT
    source_id,
    toStartOfHour(event_time) AS hour,
    is_bot,
    session_id,
    min(event_time),
    max(event_time),
    min(event_id),
    max(event_id)
FROM trackstream.events
WHERE session_id != ''
GROUP BY source_id, hour, is_bot, session_id
SETTINGS max_bytes_before_external_group_by = 1000000000;
