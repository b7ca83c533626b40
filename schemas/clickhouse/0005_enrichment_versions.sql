-- Which data enriched each row, so an operator can tell why two months
-- differ: geo_db names the GeoIP database build that placed the address
-- (e.g. "DBIP-Country-Lite@2026-06-01"; empty: no database), ua_rules the
-- user-agent rules build that derived browser, OS, device and bot
-- (e.g. "trackstream-ua@1"). Rows stored before this migration read
-- empty. See docs/enrichment.md.
ALTER TABLE trackstream.events${LOCAL} ${ON_CLUSTER}
    ADD COLUMN IF NOT EXISTS geo_db LowCardinality(String) AFTER city,
    ADD COLUMN IF NOT EXISTS ua_rules LowCardinality(String) AFTER is_bot;

-- @cluster-only
ALTER TABLE trackstream.events ${ON_CLUSTER}
    ADD COLUMN IF NOT EXISTS geo_db LowCardinality(String) AFTER city,
    ADD COLUMN IF NOT EXISTS ua_rules LowCardinality(String) AFTER is_bot;
