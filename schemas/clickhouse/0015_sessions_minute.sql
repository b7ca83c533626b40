-- Session figures of closed hours per start minute: sessions_hourly
-- (0006) gets the minute its sessions started in, so that a series by
-- minute and the whole minutes of a range's partial first and last hour
-- read finalised rows instead of grouping a day of events_sessions per
-- request. The finaliser (internal/finalise) now writes one row per
-- (source, hour, bot, minute); readers per hour sum an hour's rows as
-- before. The marker row of an hour has minute = hour.
--
-- Rows written before this migration read minute as the type's default,
-- the epoch (no DEFAULT expression: ClickHouse extends a sorting key only
-- by a new column without one, which keeps the parts sorted): their hour's
-- marker then has minute != hour, which tells readers (admin-api,
-- sessions_sql.go) that the hour has no per-minute rows, and makes the
-- finaliser recompute the hour once, with minutes. The key gains minute
-- in the same ALTER (only a column added by it may extend the key), so
-- ReplacingMergeTree keeps each minute's row of a version. Merges drop an
-- older version's row only where a newer version has a row of the same
-- minute; the rest (a minute no session starts in any more, and the
-- epoch-minute rows of before this migration, one per source, hour and
-- bot flag) stay on disk, and readers skip them by taking each hour's
-- newest version. A repeated run changes nothing (the column and key
-- exist).
ALTER TABLE trackstream.sessions_hourly${LOCAL} ${ON_CLUSTER}
    ADD COLUMN IF NOT EXISTS minute DateTime('UTC') AFTER is_bot,
    MODIFY ORDER BY (source_id, hour, is_bot, minute);

-- @cluster-only
ALTER TABLE trackstream.sessions_hourly ${ON_CLUSTER}
    ADD COLUMN IF NOT EXISTS minute DateTime('UTC') AFTER is_bot;
