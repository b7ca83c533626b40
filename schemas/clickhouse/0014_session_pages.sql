-- The entry and exit pages of 0009 (same columns, same writer, same
-- versions and marker rows: see 0009), sorted by path first and in small
-- granules, replacing session_pages_daily.
--
-- Why: the admin API's entry_page/exit_page breakdown takes the top paths
-- of a range by sessions, then merges the visitor sketches of those paths
-- only. Reading a sketch (deserialising a uniqCombined64 state) is most
-- of its cost. Sorted by day first in granules of 8192 rows, a 30-day
-- range read every path's sketches (tens of thousands) to merge the top
-- ten's. Sorted (kind, page, day, ...) in granules of 64 rows, a path's
-- days are contiguous, so the second step reads the granules of the top
-- paths alone, and the first (sessions only, no sketch) still skips the
-- days outside the range within each path's run. Measured at 10M events
-- (bench S7, 30 days): the statement's CPU fell from ~90 ms to ~30 ms.
CREATE TABLE IF NOT EXISTS trackstream.session_pages${LOCAL} ${ON_CLUSTER}
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
ORDER BY (kind, page, day, source_id, is_bot)
SETTINGS index_granularity = 64;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.session_pages ${ON_CLUSTER}
AS trackstream.session_pages_local
ENGINE = Distributed(${CLUSTER}, trackstream, session_pages_local, cityHash64(day));

-- The rows as they are, versions and markers included, so every day
-- finalised before stays finalised (no pass recomputes it). Only into an
-- empty table: a rerun after a failure between this and the DROP below
-- copies nothing twice (a copy would carry the same version and key, and
-- readers' FINAL would keep one, but the guard keeps the table clean).
-- Run with the processors stopped (a processor applies migrations before
-- it finalises), as 0004.
INSERT INTO trackstream.session_pages
SELECT source_id, day, is_bot, kind, page, sessions, visitors, version
FROM trackstream.session_pages_daily
WHERE (SELECT count() FROM trackstream.session_pages) = 0;

-- session_pages_daily is replaced by session_pages.
-- @cluster-only
DROP TABLE IF EXISTS trackstream.session_pages_daily ${ON_CLUSTER};

DROP TABLE IF EXISTS trackstream.session_pages_daily${LOCAL} ${ON_CLUSTER};
