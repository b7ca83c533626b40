-- Exact unique visitors of closed hours and whole UTC days, written by
-- the session finaliser (internal/finalise) from the events of the days it
-- recomputes: per event type ('' for all types) and source ('' for all
-- sources) and per hour (hours = 1) or day (hours = 24, written once the
-- day is over), the distinct visitors with bots (visitors) and without
-- (human_visitors; a visitor with a human event in the period is human).
--
-- Why: the count rollups' visitor sketches (uniqCombined64(15)) are
-- estimates, 1-1.5 % off for a busy hour or day, and merging them is most
-- of what a series by hour costs once an hour holds more than a few
-- thousand visitors (a full 2^15-register sketch, ~25 KB, per hour, source
-- and type: ~60 ms of a 7-day series at 100M events). Closed hours and
-- days are final, so their figure can be counted exactly once and read as
-- a number: a series by hour or day, and a summary of one hour or one
-- day, answer exact visitors for every finalised bucket and merge
-- sketches only for the open tail (admin-api/stats_sql.go, exactVisitors).
--
-- Versions as in sessions_hourly (0006): every pass writes all rows of
-- the periods it computes, a marker row per hour and per day (event_type
-- and source_id '', the figure over everything, zero when the hour has no
-- visitors) under its own version, in one insert; readers take each
-- period's newest version. An hour or day without a marker here has no
-- exact figure (not finalised yet, or finalised before this migration:
-- the finaliser recomputes those once) and readers use the sketches.
CREATE TABLE IF NOT EXISTS trackstream.visitors_exact${LOCAL} ${ON_CLUSTER}
(
    event_type     LowCardinality(String),
    source_id      LowCardinality(String),
    hours          UInt8,
    start          DateTime('UTC'),
    visitors       UInt64,
    human_visitors UInt64,
    version        UInt64
)
ENGINE = ${REPLICATED}ReplacingMergeTree(version)
PARTITION BY toYear(start)
ORDER BY (event_type, source_id, hours, start);

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.visitors_exact ${ON_CLUSTER}
AS trackstream.visitors_exact_local
ENGINE = Distributed(${CLUSTER}, trackstream, visitors_exact_local, cityHash64(start));

-- A late event of a day that is over marks the day for the finaliser
-- (0006) with or without a session id: exact visitors count the events
-- without one too (their visitor is the profile, anonymous or user id).
DROP VIEW IF EXISTS trackstream.sessions_dirty_mv${LOCAL} ${ON_CLUSTER};

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.sessions_dirty_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.sessions_dirty${LOCAL}
AS SELECT toDate(event_time) AS day, max(now64(3, 'UTC')) AS marked_at
FROM trackstream.events${LOCAL}
WHERE toDate(event_time) < toDate(now('UTC'))
GROUP BY day;
