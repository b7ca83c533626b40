package chdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// rowBinary encodes rows of (UInt64, String) as RowBinary.
func rowBinary(ids []uint64, names []string) []byte {
	var b []byte
	for i, id := range ids {
		b = binary.LittleEndian.AppendUint64(b, id)
		b = binary.AppendUvarint(b, uint64(len(names[i])))
		b = append(b, names[i]...)
	}
	return b
}

func TestInsertIsBinarySafe(t *testing.T) {
	db := openTest(t, 1)
	ctx := context.Background()
	if err := db.Exec(ctx, "CREATE TABLE bin (id UInt64, name String) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	// Id 10 is 0a 00 ..., a string of length 10 starts 0a, and the strings
	// hold NUL, 0a 0a and invalid UTF-8: inline data after a statement
	// would be cut at the first 0a 0a pair.
	names := []string{"\n\n\n\n\n\n\n\n\n\n", "a\x00b\n\nc", "\xff\xfe", strings.Repeat("x", InsertPieceBytes/2)}
	ids := []uint64{10, 2570, 3, 4}
	// Enough copies to span several appends.
	var allIDs []uint64
	var allNames []string
	for i := range 5 {
		for j := range ids {
			allIDs = append(allIDs, ids[j]+uint64(i)<<32)
			allNames = append(allNames, names[j])
		}
	}
	data := rowBinary(allIDs, allNames)
	if len(data) <= 2*InsertPieceBytes {
		t.Fatalf("test data of %d bytes does not span several appends", len(data))
	}
	if err := db.Insert(ctx, "INSERT INTO bin (id, name)", "RowBinary", data); err != nil {
		t.Fatal(err)
	}
	got := query(t, db, "SELECT count(), sum(length(name)), countIf(name = unhex('610062'||'0A0A63')), countIf(name = unhex('FFFE')) FROM bin", "TabSeparated")
	var total int
	for _, n := range allNames {
		total += len(n)
	}
	if want := fmt.Sprintf("%d\t%d\t5\t5\n", len(allIDs), total); got != want {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

func TestInsertErrors(t *testing.T) {
	db := openTest(t, 1)
	ctx := context.Background()
	if err := db.Exec(ctx, "CREATE TABLE ins (id UInt64, name String) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	var qe *QueryError
	err := db.Insert(ctx, "INSERT INTO no_such_table_ins (id)", "RowBinary", nil)
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "UNKNOWN_TABLE") {
		t.Errorf("unknown table: %v, want a *QueryError naming UNKNOWN_TABLE", err)
	}
	// Good rows, then a truncated one: nothing is stored.
	data := append(rowBinary([]uint64{1, 2}, []string{"a", "b"}), 3, 0, 0)
	err = db.Insert(ctx, "INSERT INTO ins (id, name)", "RowBinary", data)
	if !errors.As(err, &qe) {
		t.Errorf("truncated data: %v, want a *QueryError", err)
	}
	err = db.Insert(ctx, "INSERT INTO ins (id, name)", "JSONEachRow", []byte(`{"id":1,"name":"a"}`+"\n"+`{"id":"x"}`+"\n"))
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "Code: ") {
		t.Errorf("bad JSON row: %v, want a *QueryError with a ClickHouse code", err)
	}
	if got := query(t, db, "SELECT count() FROM ins", "TabSeparated"); got != "0\n" {
		t.Errorf("refused inserts stored %q rows", got)
	}
	// The connection is still usable after failures.
	if err := db.Insert(ctx, "INSERT INTO ins (id, name)", "RowBinary", rowBinary([]uint64{7}, []string{"z"})); err != nil {
		t.Fatal(err)
	}
	if got := query(t, db, "SELECT id, name FROM ins", "TabSeparated"); got != "7\tz\n" {
		t.Errorf("after failures: %q", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Insert(ctx, "INSERT INTO ins (id, name)", "RowBinary", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Insert after Close = %v, want ErrClosed", err)
	}
}

func BenchmarkInsertRowBinary(b *testing.B) {
	db := openTest(b, 1)
	ctx := context.Background()
	if err := db.Exec(ctx, "CREATE TABLE bench_rb (id UInt64, name String) ENGINE = MergeTree ORDER BY id"); err != nil {
		b.Fatal(err)
	}
	const rows = 10_000
	ids := make([]uint64, rows)
	names := make([]string, rows)
	for i := range ids {
		ids[i], names[i] = uint64(i), fmt.Sprintf("name-%d", i)
	}
	data := rowBinary(ids, names)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	ops := 0
	for b.Loop() {
		if err := db.Insert(ctx, "INSERT INTO bench_rb (id, name)", "RowBinary", data); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(rows*ops)/b.Elapsed().Seconds(), "rows/s")
	out := query(b, db, "SELECT count() FROM bench_rb", "TabSeparated")
	if out != fmt.Sprintf("%d\n", rows*ops) {
		b.Errorf("count() = %q, want %d", out, rows*ops)
	}
}
