package config

import "net"

// Kafka is how every role reaches Kafka.
type Kafka struct {
	// Brokers are the seed brokers (host:port). Required except for the all
	// role, which uses its embedded broker.
	Brokers []string
	// EmbeddedPort is the loopback port of the all role's embedded broker,
	// so ordinary Kafka tools can look at it. Default 19092.
	EmbeddedPort int
	// Partitions of trackstream.events when trackstream creates it. Default 6.
	Partitions int
	// ReplicationFactor of the topics trackstream creates. Default 1 (use 3
	// on a real cluster).
	ReplicationFactor int
}

func defaultKafka() Kafka {
	return Kafka{EmbeddedPort: 19092, Partitions: 6, ReplicationFactor: 1}
}

func (k *Kafka) fields() []field {
	return []field{
		{"kafka-brokers", secKafka, false, "comma-separated Kafka seed brokers (host:port); ignored by the all role", (*listValue)(&k.Brokers)},
		{"kafka-partitions", secKafka, false, "partitions of trackstream.events when trackstream creates it", (*intValue)(&k.Partitions)},
		{"kafka-replication-factor", secKafka, false, "replication factor of the topics trackstream creates", (*intValue)(&k.ReplicationFactor)},
		{"embedded-kafka-port", secEmbedded, false, "loopback port of the embedded Kafka-protocol broker (all role)", (*intValue)(&k.EmbeddedPort)},
	}
}

func (k Kafka) validateEmbedded(errs *[]error) {
	if k.EmbeddedPort < 1 || k.EmbeddedPort > 65535 {
		errorf(errs, "TRACKSTREAM_EMBEDDED_KAFKA_PORT: %d is not a port (1-65535)", k.EmbeddedPort)
	}
}

func (k Kafka) validate(errs *[]error, roles Set) {
	if !roles.Embedded() && len(k.Brokers) == 0 {
		errorf(errs, "TRACKSTREAM_KAFKA_BROKERS: required for the %s role (comma-separated host:port list)", roles)
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errorf(errs, "TRACKSTREAM_KAFKA_BROKERS: %q is not host:port", b)
		}
	}
	checkRange(errs, "TRACKSTREAM_KAFKA_PARTITIONS", k.Partitions, 1, 10_000)
	checkRange(errs, "TRACKSTREAM_KAFKA_REPLICATION_FACTOR", k.ReplicationFactor, 1, 32)
}
