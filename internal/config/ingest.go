package config

import "time"

// Ingest configures the public collector.
type Ingest struct {
	// Addr is the public listener. Default :8080.
	Addr string
	// ProduceTimeout is how long a request waits for Kafka's
	// acknowledgement before answering 503. Default 5s.
	ProduceTimeout time.Duration
	// MaxBodyBytes caps a request body, raw and decompressed. Default 1 MiB.
	MaxBodyBytes int
	// MaxEvents caps the events of one request. Default 500.
	MaxEvents int
	// MaxBufferedBytes caps the producer's buffer; beyond it requests get
	// 503 at once. Default 64 MiB.
	MaxBufferedBytes int
}

func defaultIngest() Ingest {
	return Ingest{
		Addr:             ":8080",
		ProduceTimeout:   5 * time.Second,
		MaxBodyBytes:     1 << 20,
		MaxEvents:        500,
		MaxBufferedBytes: 64 << 20,
	}
}

func (c *Ingest) fields() []field {
	return []field{
		{"ingest-addr", secIngest, false, "public collector listener", (*stringValue)(&c.Addr)},
		{"ingest-produce-timeout", secIngest, false, "how long a request waits for Kafka's ack before 503", (*durationValue)(&c.ProduceTimeout)},
		{"ingest-max-body-bytes", secIngest, false, "maximum request body in bytes, raw and decompressed", (*intValue)(&c.MaxBodyBytes)},
		{"ingest-max-events", secIngest, false, "maximum events in one request", (*intValue)(&c.MaxEvents)},
		{"ingest-max-buffered-bytes", secIngest, false, "producer buffer bound in bytes; beyond it requests get 503", (*intValue)(&c.MaxBufferedBytes)},
	}
}

func (c Ingest) validate(errs *[]error) {
	checkAddr(errs, "TRACKSTREAM_INGEST_ADDR", c.Addr)
	checkPositive(errs, "TRACKSTREAM_INGEST_PRODUCE_TIMEOUT", c.ProduceTimeout)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_BODY_BYTES", c.MaxBodyBytes, 1024, 64<<20)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_EVENTS", c.MaxEvents, 1, 10_000)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_BUFFERED_BYTES", c.MaxBufferedBytes, 1<<20, 4<<30)
}
