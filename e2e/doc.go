// Package e2e is trackstream's end-to-end and fault suite: the real
// trackstream binary runs as separate processes (two ingest replicas, and
// processor plus admin-api in one process over embedded ClickHouse) against
// a real Apache Kafka broker started from Maven Central jars, and the tests
// kill, stop and restart the parts under load, then check that the set of
// event ids in ClickHouse is exactly the set acknowledged with a 2xx.
//
// Run it with `go tool -modfile=tools/go.mod task kafka:e2e` (short loads,
// part of `task test`) or `task kafka:e2e-long` (TRACKSTREAM_E2E_LONG=1).
// docs/reliability.md describes every scenario and its last measured
// outcome. The package has no non-test code; its helpers live in
// e2e/internal, and the broker runner in internal/testkit/kafkanode (shared
// with the benchmark harness).
package e2e
