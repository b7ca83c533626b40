-- The events table. One row per (source_id, event_id): a client retry of the
-- same event (same id, possibly another receive time) lands on the same
-- sorting key, and ReplacingMergeTree keeps one of them after merges. Until
-- merges run, admin queries stay exact with uniqExact(event_id) or FINAL.
-- non_replicated_deduplication_window lets a processor retry an insert with
-- the same insert_deduplication_token without storing it twice.
CREATE TABLE IF NOT EXISTS trackstream.events
(
    source_id   LowCardinality(String),
    event_id    String,
    event_type  LowCardinality(String),
    event_time  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    session_id  String CODEC(ZSTD(1)),
    profile_id  String CODEC(ZSTD(1)),
    properties  String CODEC(ZSTD(3)),
    context     String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
