-- The events table: one row per (source_id, event_id). See
-- docs/clickhouse-schema.md for the design and the measurements behind it.
--
-- Placeholders (package schemas renders them per variant):
--   ${ON_CLUSTER}  empty, or ON CLUSTER '<cluster>' in cluster mode
--   ${REPLICATED}  empty, or Replicated (ReplicatedReplacingMergeTree ...)
--   ${LOCAL}       empty, or _local: in cluster mode the MergeTree tables
--                  are <name>_local on every node and <name> is a
--                  Distributed table over them
--
-- Dedup: the sorting key holds no per-attempt value (no received_at), so
-- a client retry of an event (same source and id, another receive time)
-- lands on the same key and ReplacingMergeTree keeps one row after merges.
-- Until then admin queries are exact with uniqExact(event_id) (or FINAL).
-- insert_deduplication_token dedup of processor retries needs
-- non_replicated_deduplication_window on a non-replicated table
-- (Replicated tables deduplicate through Keeper by default).
CREATE TABLE IF NOT EXISTS trackstream.events${LOCAL} ${ON_CLUSTER}
(
    source_id       LowCardinality(String),
    event_id        String CODEC(ZSTD(1)),
    event_type      LowCardinality(String),
    event_time      DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    received_at     DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    client_time     Nullable(DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    sent_at         Nullable(DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    late            Bool,
    session_id      String CODEC(ZSTD(1)),
    profile_id      String CODEC(ZSTD(1)),
    anonymous_id    String CODEC(ZSTD(1)),
    user_id         String CODEC(ZSTD(1)),
    group_id        String CODEC(ZSTD(1)),
    previous_id     String CODEC(ZSTD(1)),
    name            LowCardinality(String),
    ip              String CODEC(ZSTD(1)),
    user_agent      String CODEC(ZSTD(3)),
    url             String CODEC(ZSTD(3)),
    url_host        LowCardinality(String),
    url_path        String CODEC(ZSTD(3)),
    url_query       String CODEC(ZSTD(3)),
    referrer        String CODEC(ZSTD(3)),
    referrer_host   LowCardinality(String),
    referrer_medium LowCardinality(String),
    utm_source      LowCardinality(String),
    utm_medium      LowCardinality(String),
    utm_campaign    LowCardinality(String),
    utm_term        String CODEC(ZSTD(1)),
    utm_content     String CODEC(ZSTD(1)),
    click_id_type   LowCardinality(String),
    click_id        String CODEC(ZSTD(1)),
    country         LowCardinality(String),
    region          LowCardinality(String),
    city            LowCardinality(String),
    browser         LowCardinality(String),
    browser_version LowCardinality(String),
    os              LowCardinality(String),
    os_version      LowCardinality(String),
    device_type     LowCardinality(String),
    is_bot          Bool,
    properties      JSON(max_dynamic_paths = 256),
    context         JSON(max_dynamic_paths = 128),
    INDEX idx_profile profile_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_user user_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ${REPLICATED}ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_id, toDate(event_time), event_type, event_id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 8192;

-- @cluster-only
CREATE TABLE IF NOT EXISTS trackstream.events ${ON_CLUSTER}
AS trackstream.events_local
ENGINE = Distributed(${CLUSTER}, trackstream, events_local, cityHash64(source_id, event_id));
