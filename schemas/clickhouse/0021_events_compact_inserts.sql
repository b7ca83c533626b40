-- Each insert into the events table writes its part in the compact format
-- (the columns in one data file) instead of the wide one (two files per
-- column, ~100 for the events table): a processor batch, at most 50,000
-- rows by default, is below min_rows_for_wide_part, and the first merge
-- reaching 65,536 rows writes a wide part again. Creating and deleting
-- the wide parts' files cost the insert much of its CPU in the kernel
-- (ceiling C: 56.5k -> 69.2k rows per CPU-second). Compact parts are
-- slower to read (1.2-2x for scans), so only an insert's rows until
-- their first merge are read that way. See docs/clickhouse-schema.md,
-- "Where ceiling C's CPU goes".
--
-- A setting only: existing parts keep their format, and a repeated run
-- changes nothing.
ALTER TABLE trackstream.events${LOCAL} ${ON_CLUSTER}
    MODIFY SETTING min_rows_for_wide_part = 65536;
