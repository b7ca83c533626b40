-- Entry and exit pages of closed days, written by the processor's session
-- finaliser (internal/finalise) from trackstream.events: per source, UTC
-- day, bot flag and kind (entry: a session's first pageview, exit: its
-- last), the path and the sessions that entered or left on it (exact) with
-- a visitor sketch of those pageviews (uniqCombined64, as dims_daily). A
-- session is the one of 0006 (source_id, session_id, UTC day; its bot flag
-- is its first event's); sessions without a pageview have no row. The
-- admin API's entry_page and exit_page breakdowns read these rows for
-- whole days that have them and raw events for the rest of the range.
--
-- The finaliser writes a day only once the day is over (its last hour is
-- closed), and rewrites it with the day's hours (re-check, late events).
-- Each write is one insert of all of a day's rows plus a marker row
-- (source_id '', kind entry, page '', zero sessions) under one new
-- version; readers take, per day, the rows of its newest version, so a
-- re-run or two finalisers at once never count twice, and a day without
-- a marker (not finalised yet, or finalised before this migration) is
-- read raw. ReplacingMergeTree(version) lets merges drop replaced rows.
-- No backfill statement: the finaliser writes every closed day that has
-- session data and no marker, so its first pass after the upgrade fills
-- the table from the events stored before (a day at a time).
CREATE TABLE IF NOT EXISTS trackstream.session_pages_daily${LOCAL} ${ON_CLUSTER}
(
    source_id LowCardinality(String),
    day       Date,
    is_bot    Bool,
    kind      Enum8('entry' = 1, 'exit' = 2),
    page      String CODEC(ZSTD(1)),
    sessions  UInt64,
    visitors  AggregateFunction(uniqCombined64(12), String),
    version   UInt64
)
ENGINE = ${REPLICATED}ReplacingMergeTree(version)
PARTITION BY toYear(day)
ORDER BY (kind, day, source_id, is_bot, page);

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.session_pages_daily ${ON_CLUSTER}
AS trackstream.session_pages_daily_local
ENGINE = Distributed(${CLUSTER}, trackstream, session_pages_daily_local, cityHash64(day));
