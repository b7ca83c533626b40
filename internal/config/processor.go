package config

import "time"

// Processor configures the Kafka to ClickHouse workers.
type Processor struct {
	// Group is the Kafka consumer group. Default trackstream-processor.
	Group string
	// Workers is the number of consumer group members this process runs;
	// they share one ClickHouse store. Default 1.
	Workers int
	// BatchRows flushes a batch at this many rows. Default 50000.
	BatchRows int
	// BatchAge flushes a batch this long after its first row. Default 1s.
	BatchAge time.Duration
}

func defaultProcessor() Processor {
	return Processor{Group: "trackstream-processor", Workers: 1, BatchRows: 50_000, BatchAge: time.Second}
}

func (c *Processor) fields() []field {
	return []field{
		{"processor-group", secProcessor, false, "Kafka consumer group of the processors", (*stringValue)(&c.Group)},
		{"processor-workers", secProcessor, false, "consumer group members in this process, sharing one ClickHouse store", (*intValue)(&c.Workers)},
		{"processor-batch-rows", secProcessor, false, "rows that flush a ClickHouse insert", (*intValue)(&c.BatchRows)},
		{"processor-batch-age", secProcessor, false, "age of a batch's first row that flushes it", (*durationValue)(&c.BatchAge)},
	}
}

func (c Processor) validate(errs *[]error) {
	if c.Group == "" {
		errorf(errs, "TRACKSTREAM_PROCESSOR_GROUP: must not be empty")
	}
	checkRange(errs, "TRACKSTREAM_PROCESSOR_WORKERS", c.Workers, 1, 64)
	checkRange(errs, "TRACKSTREAM_PROCESSOR_BATCH_ROWS", c.BatchRows, 1, 1_000_000)
	checkPositive(errs, "TRACKSTREAM_PROCESSOR_BATCH_AGE", c.BatchAge)
}
