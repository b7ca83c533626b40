package store

// InsertColumns is the events column list both stores insert, in the
// order AppendRowBinary writes them, for inserting rows into a copy of the
// events table (the insert research in bench/storeresearch).
func InsertColumns() string { return insertColumns }

// AppendRowBinary appends r in ClickHouse's RowBinary format, columns in
// the order of InsertColumns, exactly as the embedded store sends it
// (properties and context as Strings of JSON text; a copy of the events
// table that keeps them in JSON columns needs
// input_format_binary_read_json_as_string = 1).
func AppendRowBinary(b []byte, r *Row) []byte { return appendRowBinary(b, r) }
