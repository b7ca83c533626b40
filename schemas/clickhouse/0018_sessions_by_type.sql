-- Session figures of closed hours per event type: the rows of
-- sessions_hourly (0006, 0015: per source, start hour, bot flag and start
-- minute, under a version per pass, with a marker row per hour) for the
-- sessions made of one event type's events only, so that the session
-- figures of a filter on one type (type=signup) read finalised rows
-- instead of grouping every event of the range per request. A session is
-- still one session id of one source within one UTC day; with a type
-- filter it is that type's events of it (admin-api/sessions_sql.go): it
-- starts at its first event of the type, whose bot flag it takes, bounces
-- with one distinct event of the type and lasts from its first to its
-- last event of the type that day.
--
-- The finaliser (internal/finalise) writes an hour's rows of every type
-- and a marker row (source_id '', event_type '', zeros) in one insert
-- under the version of the pass, before the hour's sessions_hourly rows;
-- readers take each hour's newest version here, as in sessions_hourly. A
-- separate table, not a column of sessions_hourly: its key starts with
-- the event type, so a type's rows are contiguous and the all-type
-- readers of sessions_hourly read no typed rows. Hours finalised before
-- this migration have no marker here: readers take the finalised typed
-- hours to end at the newest marker (the finaliser writes hours in order)
-- and the finaliser recomputes every hour without one once.
CREATE TABLE IF NOT EXISTS trackstream.sessions_by_type${LOCAL} ${ON_CLUSTER}
(
    event_type  LowCardinality(String),
    source_id   LowCardinality(String),
    hour        DateTime('UTC'),
    is_bot      Bool,
    minute      DateTime('UTC'),
    sessions    UInt64,
    bounces     UInt64,
    duration_ms UInt64,
    version     UInt64
)
ENGINE = ${REPLICATED}ReplacingMergeTree(version)
PARTITION BY toYear(hour)
ORDER BY (event_type, source_id, hour, is_bot, minute);

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.sessions_by_type ${ON_CLUSTER}
AS trackstream.sessions_by_type_local
ENGINE = Distributed(${CLUSTER}, trackstream, sessions_by_type_local, cityHash64(hour));
