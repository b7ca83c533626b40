package ingest

import (
	"bytes"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lz4Compressor compresses produce batches (TRACKSTREAM_INGEST_PRODUCER_COMPRESSION
// lz4, the default) into LZ4 frames of 64 KiB blocks, as Kafka's own
// producer writes them, with pooled writers. franz-go's own LZ4 writer
// uses the format's default 4 MiB blocks, so every batch being
// compressed held a 4 MiB buffer (12 MiB of ingest's heap at 1,000
// connections) for batches of at most 1 MB.
type lz4Compressor struct{ pool sync.Pool }

func (c *lz4Compressor) Compress(dst *bytes.Buffer, src []byte, _ ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	w, _ := c.pool.Get().(*lz4.Writer)
	if w == nil {
		w = lz4.NewWriter(nil)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, kgo.CodecError
		}
	}
	defer c.pool.Put(w)
	w.Reset(dst)
	if _, err := w.Write(src); err != nil {
		return nil, kgo.CodecError
	}
	if err := w.Close(); err != nil {
		return nil, kgo.CodecError
	}
	return dst.Bytes(), kgo.CodecLz4
}
