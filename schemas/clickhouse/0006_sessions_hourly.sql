-- Session figures of closed hours, written by the processor's session
-- finaliser (internal/finalise) from events_sessions: per source, start
-- hour and bot flag, the sessions that started in the hour (a session is
-- one session id of one source within one UTC day, placed at its first
-- event, whose bot flag it takes), the bounced ones (one distinct event)
-- and the sum of their durations in milliseconds. The dashboard reads
-- these rows for closed hours and groups events_sessions only for the
-- sessions started after the newest finalised hour.
--
-- Every pass of the finaliser recomputes whole hours and writes all of an
-- hour's rows under one new version, plus a marker row (source_id '',
-- zeros) so that an hour without sessions is finalised too. Readers take,
-- per hour, the rows of its newest version; a pass is one insert (one
-- part), so two finalisers running at once each write complete versions
-- and neither counts twice. ReplacingMergeTree(version) lets merges drop
-- the rows an hour's newer versions replace.
CREATE TABLE IF NOT EXISTS trackstream.sessions_hourly${LOCAL} ${ON_CLUSTER}
(
    source_id   LowCardinality(String),
    hour        DateTime('UTC'),
    is_bot      Bool,
    sessions    UInt64,
    bounces     UInt64,
    duration_ms UInt64,
    version     UInt64
)
ENGINE = ${REPLICATED}ReplacingMergeTree(version)
PARTITION BY toYear(hour)
ORDER BY (source_id, hour, is_bot);

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.sessions_hourly ${ON_CLUSTER}
AS trackstream.sessions_hourly_local
ENGINE = Distributed(${CLUSTER}, trackstream, sessions_hourly_local, cityHash64(hour));

-- Days that received session events after they ended (late events,
-- replays, imports): the finaliser recomputes a day whose mark is newer
-- than its hours' versions. now64() is the insert's time.
CREATE TABLE IF NOT EXISTS trackstream.sessions_dirty${LOCAL} ${ON_CLUSTER}
(
    day       Date,
    marked_at DateTime64(3, 'UTC')
)
ENGINE = ${REPLICATED}ReplacingMergeTree(marked_at)
ORDER BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.sessions_dirty_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.sessions_dirty${LOCAL}
AS SELECT toDate(event_time) AS day, max(now64(3, 'UTC')) AS marked_at
FROM trackstream.events${LOCAL}
WHERE session_id != '' AND toDate(event_time) < toDate(now('UTC'))
GROUP BY day;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.sessions_dirty ${ON_CLUSTER}
AS trackstream.sessions_dirty_local
ENGINE = Distributed(${CLUSTER}, trackstream, sessions_dirty_local, cityHash64(day));
