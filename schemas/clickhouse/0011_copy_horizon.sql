-- Where stored copies of events may still be: the admin API counts the
-- events of raw rows with count() instead of a distinct count of
-- (source_id, event_id) wherever no copy can be. See README, "Exactness
-- contract".
--
-- Since migration 0004 no copy of an event reaches the events table (the
-- processor drops every copy before insert, looking ids up in event_ids,
-- which 0004 filled with every event stored before it). Rows stored
-- before 0004 may hold several copies of one event. received_before is
-- the latest receive time of a row whose event has another stored row,
-- when this migration ran (NULL when no event had: new installs and data
-- written only since 0004). So:
--   - a row received after it is its event's only row: when this
--     migration ran, any row of an event with two rows was received at or
--     before it; any row stored since is no copy of a stored event (it
--     would have been dropped);
--   - rows received at or before it (with any later row of theirs never
--     stored, as above) hold every copy: counted by distinct
--     (source_id, event_id).
-- It depends on no clock (not on when 0004 ran, nor on ingest's receive
-- times agreeing with it): only on which rows are stored. Rows received
-- at or before it that are stored later (a DLQ replay of an old record, a
-- late retry) fall on the distinct-count side, which is exact for any
-- rows.
CREATE TABLE IF NOT EXISTS trackstream.copy_horizon${LOCAL} ${ON_CLUSTER}
(
    received_before Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY tuple();

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.copy_horizon ${ON_CLUSTER}
AS trackstream.copy_horizon_local
ENGINE = Distributed(${CLUSTER}, trackstream, copy_horizon_local, rand());

-- One pass over the events (like 0004's backfill), grouping by a 64-bit
-- hash of the event's key: two events sharing a hash look like copies,
-- which can only move received_before later (more rows counted
-- distinctly), never make a count wrong. A repeated run (a migration
-- interrupted before its record) adds a row; readers take the latest
-- (max, which skips NULL).
-- Run with the processors stopped, as every migration (a processor
-- applies migrations before it consumes). On a cluster the row reaches
-- its shard before the migration is recorded (a foreground insert into
-- the Distributed table), so no admin API reads the table empty.
INSERT INTO trackstream.copy_horizon
SELECT maxOrNull(last) FROM (
    SELECT max(received_at) AS last FROM trackstream.events
    GROUP BY cityHash64(source_id, event_id) HAVING count() > 1
)
SETTINGS max_bytes_before_external_group_by = 1000000000, distributed_foreground_insert = 1;
