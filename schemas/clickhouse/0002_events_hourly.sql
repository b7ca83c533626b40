-- Hourly rollup for dashboards: per source, hour, event type and bot flag,
-- the uniqExact states of event ids, visitors and sessions. uniqExact
-- states are sets, so an event inserted twice (a client retry, or a
-- block the materialized view saw twice) still counts once when the
-- states are merged: the rollup is exact, like the events table queries.
-- Query with uniqExactMerge(events) ... GROUP BY.
CREATE TABLE IF NOT EXISTS trackstream.events_hourly${LOCAL} ${ON_CLUSTER}
(
    source_id  LowCardinality(String),
    hour       DateTime('UTC'),
    event_type LowCardinality(String),
    is_bot     Bool,
    events     AggregateFunction(uniqExact, String),
    visitors   AggregateFunction(uniqExact, String),
    sessions   AggregateFunction(uniqExact, String)
)
ENGINE = ${REPLICATED}AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (source_id, hour, event_type, is_bot);

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.events_hourly_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.events_hourly${LOCAL}
AS SELECT
    source_id,
    toStartOfHour(event_time) AS hour,
    event_type,
    is_bot,
    uniqExactState(event_id) AS events,
    uniqExactStateIf(multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id), (profile_id != '') OR (anonymous_id != '') OR (user_id != '') OR (session_id != '')) AS visitors,
    uniqExactStateIf(session_id, session_id != '') AS sessions
FROM trackstream.events${LOCAL}
GROUP BY source_id, hour, event_type, is_bot;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.events_hourly ${ON_CLUSTER}
AS trackstream.events_hourly_local
ENGINE = Distributed(${CLUSTER}, trackstream, events_hourly_local, cityHash64(source_id));
