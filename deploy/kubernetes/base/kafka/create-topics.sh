#!/bin/sh
# Creates trackstream's topics with explicit partitions, replication and
# configs, so nothing depends on broker-side auto-creation (which the brokers
# should have disabled: auto.create.topics.enable=false). Idempotent: topics
# that exist are left alone. Used by the compose `kafka-init` step and the
# Kubernetes `trackstream-kafka-topics` Job; deploy/check compares the topics
# here with the ones trackstream itself expects (internal/kafka.Topics and
# admin-api's state topic).
#
# Environment:
#   KAFKA_BOOTSTRAP        host:port of a broker (required)
#   EVENTS_PARTITIONS      partitions of trackstream.events (default 12; at
#                          least the number of processor workers you will run)
#   REPLICATION_FACTOR     replication of every topic (default 3; 1 for a
#                          single broker)
#   KAFKA_TOPICS           path of kafka-topics.sh (default the apache/kafka image's)
set -eu
: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to a broker host:port}"
EVENTS_PARTITIONS="${EVENTS_PARTITIONS:-12}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-3}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"
WEEK_MS=604800000

# Wait (bounded) until the broker answers.
i=0
until "$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP" --list >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "kafka at $KAFKA_BOOTSTRAP did not answer within 120 s" >&2
    exit 1
  fi
  sleep 2
done

create() {
  "$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP" --create --if-not-exists \
    --replication-factor "$REPLICATION_FACTOR" "$@"
}

create --topic trackstream.events --partitions "$EVENTS_PARTITIONS" --config retention.ms=$WEEK_MS
create --topic trackstream.sources --partitions 1 --config cleanup.policy=compact
create --topic trackstream.events.dlq --partitions 1 --config retention.ms=$WEEK_MS
create --topic trackstream.admin --partitions 1 --config cleanup.policy=compact --config delete.retention.ms=9223372036854775807

"$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP" --describe --topic 'trackstream.*'
