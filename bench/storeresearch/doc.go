// Package storeresearch holds the benchmarks behind the choices in
// docs/clickhouse-schema.md: the type of the properties and context
// columns (BenchmarkPropertiesColumnType), the embedded insert path and
// the events table's insert cost (BenchmarkInsertVariants), and RowBinary
// against the JSONEachRow encoding it replaced (BenchmarkEncodeFormats).
// They run the embedded engine (libchdb, TRACKSTREAM_CHDB_LIB) on copies
// of the events schema and are research, not the product's hot paths,
// whose benchmarks stay next to their code (internal/store).
package storeresearch
