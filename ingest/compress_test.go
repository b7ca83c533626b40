package ingest

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce batches are LZ4 frames of 64 KiB blocks (the frame descriptor's
// BD byte), which any LZ4 reader (Kafka's, the processor's) reads back,
// and the writers are reused across batches.
func TestLZ4BatchesUse64KiBBlocks(t *testing.T) {
	c := &lz4Compressor{}
	for i := range 3 {
		src := []byte(strings.Repeat(`{"type":"page-view","n":`+strings.Repeat("7", i)+`}`, 20_000)) // ~500 KB: several blocks
		compressed, codec := c.Compress(new(bytes.Buffer), src)
		if codec != kgo.CodecLz4 {
			t.Fatalf("batch %d: codec %v, want lz4", i, codec)
		}
		if len(compressed) < 7 || compressed[5] != 0x40 {
			t.Fatalf("batch %d: frame descriptor BD byte %#x, want 0x40 (64 KiB blocks)", i, compressed[5])
		}
		got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(compressed)))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("batch %d: read back %d of %d bytes, err %v", i, len(got), len(src), err)
		}
	}
}
