-- Visitors within 1% of the exact counts: the rollups' visitor sketches
-- get more registers. Measured against uniqExact on S7's datasets (see
-- docs/clickhouse-schema.md, "Visitor sketches"):
--
-- - dims_daily, uniqCombined64(12) -> (16): a 30-day top 10 of 8
--   dimensions was up to 4.4% off at 1M events (median 0.6%); at (16)
--   0.52% (median 0.18%).
-- - counts_hourly, counts_daily, visitors_daily and visitors_hourly,
--   uniqCombined64(15) -> (17): the visitors per day of 30 days were up
--   to 1.51% off at 10M events (median 0.47%), per hour of 7 days 1.07%;
--   at (17) 0.51% per day and exact per hour (a sketch stays exact up to
--   about 4,000 visitors at (17), about 1,000 at (15)).
--
-- A sketch of one precision cannot be converted to another, so each table
-- is refilled: its view dropped, the table emptied, the column replaced,
-- the view created again, then counts_hourly and dims_daily counted again
-- from the raw events, each (source_id, event_id) once at its earliest
-- copy's time (as 0004), and counts_daily, visitors_daily and
-- visitors_hourly merged from the refilled counts_hourly (as 0004 and
-- 0010). The event counts come out as before. Run with the processors
-- stopped (a processor applies migrations before it consumes); every
-- statement may run again after a failure. The refill reads the events
-- table twice (as 0004's backfill).

DROP VIEW IF EXISTS trackstream.counts_hourly_mv${LOCAL} ${ON_CLUSTER};

TRUNCATE TABLE IF EXISTS trackstream.counts_hourly${LOCAL} ${ON_CLUSTER};

ALTER TABLE trackstream.counts_hourly${LOCAL} ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

ALTER TABLE trackstream.counts_hourly${LOCAL} ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

-- @cluster-only
ALTER TABLE trackstream.counts_hourly ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

-- @cluster-only
ALTER TABLE trackstream.counts_hourly ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

DROP VIEW IF EXISTS trackstream.counts_daily_mv${LOCAL} ${ON_CLUSTER};

TRUNCATE TABLE IF EXISTS trackstream.counts_daily${LOCAL} ${ON_CLUSTER};

ALTER TABLE trackstream.counts_daily${LOCAL} ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

ALTER TABLE trackstream.counts_daily${LOCAL} ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

-- @cluster-only
ALTER TABLE trackstream.counts_daily ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

-- @cluster-only
ALTER TABLE trackstream.counts_daily ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

DROP VIEW IF EXISTS trackstream.visitors_daily_mv${LOCAL} ${ON_CLUSTER};

TRUNCATE TABLE IF EXISTS trackstream.visitors_daily${LOCAL} ${ON_CLUSTER};

ALTER TABLE trackstream.visitors_daily${LOCAL} ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

ALTER TABLE trackstream.visitors_daily${LOCAL} ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

-- @cluster-only
ALTER TABLE trackstream.visitors_daily ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

-- @cluster-only
ALTER TABLE trackstream.visitors_daily ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

DROP VIEW IF EXISTS trackstream.visitors_hourly_mv${LOCAL} ${ON_CLUSTER};

TRUNCATE TABLE IF EXISTS trackstream.visitors_hourly${LOCAL} ${ON_CLUSTER};

ALTER TABLE trackstream.visitors_hourly${LOCAL} ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

ALTER TABLE trackstream.visitors_hourly${LOCAL} ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

-- @cluster-only
ALTER TABLE trackstream.visitors_hourly ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

-- @cluster-only
ALTER TABLE trackstream.visitors_hourly ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(17), String);

DROP VIEW IF EXISTS trackstream.dims_daily_mv${LOCAL} ${ON_CLUSTER};

TRUNCATE TABLE IF EXISTS trackstream.dims_daily${LOCAL} ${ON_CLUSTER};

ALTER TABLE trackstream.dims_daily${LOCAL} ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

ALTER TABLE trackstream.dims_daily${LOCAL} ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(16), String);

-- @cluster-only
ALTER TABLE trackstream.dims_daily ${ON_CLUSTER} DROP COLUMN IF EXISTS visitors;

-- @cluster-only
ALTER TABLE trackstream.dims_daily ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS visitors AggregateFunction(uniqCombined64(16), String);

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_hourly_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_hourly${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toStartOfHour(event_time) AS hour, event_type, is_bot, count() AS events,
    uniqCombined64StateIf(17)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, hour, event_type, is_bot;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.counts_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toDate(event_time) AS day, event_type, is_bot, count() AS events,
    uniqCombined64StateIf(17)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, day, event_type, is_bot;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.visitors_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.visitors_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toDate(event_time) AS day, is_bot, uniqCombined64StateIf(17)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, day, is_bot;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.visitors_hourly_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.visitors_hourly${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT source_id, toStartOfHour(event_time) AS hour, is_bot, uniqCombined64StateIf(17)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
GROUP BY source_id, hour, is_bot;

CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.dims_daily_mv${LOCAL} ${ON_CLUSTER}
TO trackstream.dims_daily${LOCAL}
AS WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor
SELECT d.1 AS dim, d.2 AS value, toDate(event_time) AS day, source_id, is_bot, count() AS events,
    uniqCombined64StateIf(16)(visitor, visitor != '') AS visitors
FROM trackstream.events${LOCAL}
ARRAY JOIN [('name', toString(name)), ('page', url_path), ('host', toString(url_host)),
    ('referrer_host', toString(referrer_host)), ('referrer_medium', toString(referrer_medium)),
    ('utm_source', toString(utm_source)), ('utm_medium', toString(utm_medium)), ('utm_campaign', toString(utm_campaign)),
    ('utm_term', utm_term), ('utm_content', utm_content), ('country', toString(country)), ('region', toString(region)),
    ('city', toString(city)), ('browser', toString(browser)), ('os', toString(os)), ('device', toString(device_type))] AS d
GROUP BY dim, value, day, source_id, is_bot;

INSERT INTO trackstream.counts_hourly
SELECT source_id, toStartOfHour(t) AS hour, f.1 AS event_type, f.2 AS is_bot, count(), uniqCombined64StateIf(17)(f.3, f.3 != '')
FROM (SELECT source_id, min(event_time) AS t,
        argMin((event_type, is_bot, multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id)), event_time) AS f
      FROM trackstream.events GROUP BY source_id, event_id)
GROUP BY source_id, hour, event_type, is_bot
SETTINGS max_bytes_before_external_group_by = 1000000000;

INSERT INTO trackstream.counts_daily
SELECT source_id, day, event_type, is_bot, sum(events), uniqCombined64MergeState(17)(visitors)
FROM trackstream.counts_hourly
GROUP BY source_id, toDate(hour) AS day, event_type, is_bot;

INSERT INTO trackstream.visitors_daily
SELECT source_id, day, is_bot, uniqCombined64MergeState(17)(visitors)
FROM trackstream.counts_hourly
GROUP BY source_id, toDate(hour) AS day, is_bot;

INSERT INTO trackstream.visitors_hourly
SELECT source_id, hour, is_bot, uniqCombined64MergeState(17)(visitors)
FROM trackstream.counts_hourly
GROUP BY source_id, hour, is_bot;

INSERT INTO trackstream.dims_daily
SELECT d.1 AS dim, d.2 AS value, toDate(t) AS day, source_id, f.1 AS is_bot, count(), uniqCombined64StateIf(16)(f.2, f.2 != '')
FROM (SELECT source_id, min(event_time) AS t,
        argMin((is_bot, multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id),
            [('name', toString(name)), ('page', url_path), ('host', toString(url_host)),
             ('referrer_host', toString(referrer_host)), ('referrer_medium', toString(referrer_medium)),
             ('utm_source', toString(utm_source)), ('utm_medium', toString(utm_medium)), ('utm_campaign', toString(utm_campaign)),
             ('utm_term', utm_term), ('utm_content', utm_content), ('country', toString(country)), ('region', toString(region)),
             ('city', toString(city)), ('browser', toString(browser)), ('os', toString(os)), ('device', toString(device_type))]), event_time) AS f
      FROM trackstream.events GROUP BY source_id, event_id)
ARRAY JOIN f.3 AS d
GROUP BY dim, value, day, source_id, is_bot
SETTINGS max_bytes_before_external_group_by = 1000000000;
