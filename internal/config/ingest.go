package config

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Ingest configures the public collector.
type Ingest struct {
	// Addr is the public listener. Default :8080.
	Addr string
	// ProduceTimeout is how long a request waits for Kafka's
	// acknowledgement before answering 503. Default 5s.
	ProduceTimeout time.Duration
	// MaxBodyBytes caps the request body as received (compressed or
	// not). Default 1 MiB.
	MaxBodyBytes int
	// MaxDecodedBytes caps the body once decompressed; a gzip bomb is
	// refused with 413 without allocating past it. Default 500 KiB.
	MaxDecodedBytes int
	// MaxEvents caps the events of one request. Default 500.
	MaxEvents int
	// MaxEventBytes caps the JSON of one event as produced, counting the
	// request's shared properties/context it inherits. Default 32 KiB.
	MaxEventBytes int
	// MaxDepth caps the nesting of objects and arrays in a body.
	// Default 32.
	MaxDepth int
	// MaxProperties caps the keys of an event's properties (or traits).
	// Default 256.
	MaxProperties int
	// MaxKeys caps the keys of an event's properties (or traits) and
	// context together, counted at every level of nesting. Default 512.
	MaxKeys int
	// MaxSourcePaths caps the distinct paths (properties.a.b,
	// context.page.url) a source's events use in a calendar month (UTC),
	// as counted by each collector process: beyond it, an event bringing
	// a new path is refused (400 source_path_limit); 0: no cap. Default
	// 2000.
	MaxSourcePaths int
	// MaxStringBytes caps every string value inside an event. Default
	// 8 KiB.
	MaxStringBytes int
	// MaxTypeBytes caps an event type (or Segment event name). Default 64.
	MaxTypeBytes int
	// MaxIDBytes caps event, session, profile and user ids. Default 128.
	MaxIDBytes int
	// MaxBufferedBytes caps the producer's buffer; beyond it requests get
	// 503 at once. Default 64 MiB.
	MaxBufferedBytes int
	// ProducerLinger is how long a partition's lone batch waits for more
	// events before it is sent. Default 0: sent at once; batches still
	// form while earlier produce requests are in flight (up to 5 per
	// broker), and every request waits for its ack, so lingering only
	// adds latency (franz-go's own default is 10ms).
	ProducerLinger time.Duration
	// ProducerCompression compresses produce batches: lz4, zstd, snappy,
	// gzip or none. Default lz4.
	ProducerCompression string
	// FutureSkew is how far past the receive time a corrected event time
	// may be before it is clamped to the receive time. Default 1m.
	FutureSkew time.Duration
	// LateAfter flags events whose time is further than this before the
	// receive time as late. Default 24h.
	LateAfter time.Duration
	// RetryAfter is the Retry-After sent with a 503. Default 5s.
	RetryAfter time.Duration
	// PathAliases are extra paths for the collection endpoints, each
	// alias=endpoint (e.g. /e=/track,/b=/v1/batch), so first-party
	// paths survive ad blockers. Default none.
	PathAliases []string
	// TrustedProxies are the peers (IPs or CIDRs) whose ProxyHeader is
	// believed for the client IP; from any other peer the socket address
	// is the client IP. Default none.
	TrustedProxies []string
	// ProxyHeader names the header trusted proxies put the client IP in.
	// Default X-Forwarded-For.
	ProxyHeader string
	// ReadTimeout bounds reading a request, WriteTimeout writing its
	// answer, IdleTimeout a keep-alive connection between requests.
	// Defaults 10s, 10s, 60s.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// MaxConns caps concurrent connections. Default 16384.
	MaxConns int
	// DrainDelay is how long, after SIGTERM, /readyz fails while requests
	// are still served, so load balancers stop sending first. Default 5s.
	DrainDelay time.Duration
}

// ProducerCompressions are the values of Ingest.ProducerCompression.
var ProducerCompressions = []string{"lz4", "zstd", "snappy", "gzip", "none"}

func defaultIngest() Ingest {
	return Ingest{
		Addr:                ":8080",
		ProduceTimeout:      5 * time.Second,
		MaxBodyBytes:        1 << 20,
		MaxDecodedBytes:     500 << 10,
		MaxEvents:           500,
		MaxEventBytes:       32 << 10,
		MaxDepth:            32,
		MaxProperties:       256,
		MaxKeys:             512,
		MaxSourcePaths:      2000,
		MaxStringBytes:      8 << 10,
		MaxTypeBytes:        64,
		MaxIDBytes:          128,
		MaxBufferedBytes:    64 << 20,
		ProducerLinger:      0,
		ProducerCompression: "lz4",
		FutureSkew:          time.Minute,
		LateAfter:           24 * time.Hour,
		RetryAfter:          5 * time.Second,
		ProxyHeader:         "X-Forwarded-For",
		ReadTimeout:         10 * time.Second,
		WriteTimeout:        10 * time.Second,
		IdleTimeout:         60 * time.Second,
		MaxConns:            16 * 1024,
		DrainDelay:          5 * time.Second,
	}
}

func (c *Ingest) fields() []field {
	return []field{
		{"ingest-addr", secIngest, false, "public collector listener", (*stringValue)(&c.Addr)},
		{"ingest-produce-timeout", secIngest, false, "how long a request waits for Kafka's ack before 503", (*durationValue)(&c.ProduceTimeout)},
		{"ingest-max-body-bytes", secIngest, false, "maximum request body in bytes as received (compressed or not)", (*intValue)(&c.MaxBodyBytes)},
		{"ingest-max-decoded-bytes", secIngest, false, "maximum request body in bytes once decompressed", (*intValue)(&c.MaxDecodedBytes)},
		{"ingest-max-events", secIngest, false, "maximum events in one request", (*intValue)(&c.MaxEvents)},
		{"ingest-max-event-bytes", secIngest, false, "maximum JSON bytes of one event, with the shared properties/context it inherits", (*intValue)(&c.MaxEventBytes)},
		{"ingest-max-depth", secIngest, false, "maximum nesting of JSON objects and arrays", (*intValue)(&c.MaxDepth)},
		{"ingest-max-properties", secIngest, false, "maximum keys in an event's properties or traits", (*intValue)(&c.MaxProperties)},
		{"ingest-max-keys", secIngest, false, "maximum keys in an event's properties and context together, at every level of nesting", (*intValue)(&c.MaxKeys)},
		{"ingest-max-source-paths", secIngest, false, "maximum distinct property and context paths a source's events use a month, per collector process; beyond it events with a new path get 400 (0: no cap)", (*intValue)(&c.MaxSourcePaths)},
		{"ingest-max-string-bytes", secIngest, false, "maximum bytes of any string inside an event", (*intValue)(&c.MaxStringBytes)},
		{"ingest-max-type-bytes", secIngest, false, "maximum bytes of an event type or Segment event name", (*intValue)(&c.MaxTypeBytes)},
		{"ingest-max-id-bytes", secIngest, false, "maximum bytes of an event, session, profile or user id", (*intValue)(&c.MaxIDBytes)},
		{"ingest-max-buffered-bytes", secIngest, false, "producer buffer bound in bytes; beyond it requests get 503", (*intValue)(&c.MaxBufferedBytes)},
		{"ingest-producer-linger", secIngest, false, "how long a partition's batch waits for more events before it is sent", (*durationValue)(&c.ProducerLinger)},
		{"ingest-producer-compression", secIngest, false, "compression of produce batches: lz4, zstd, snappy, gzip or none", (*stringValue)(&c.ProducerCompression)},
		{"ingest-future-skew", secIngest, false, "how far in the future an event time may be before it is clamped to the receive time", (*durationValue)(&c.FutureSkew)},
		{"ingest-late-after", secIngest, false, "events older than this at receipt are flagged late", (*durationValue)(&c.LateAfter)},
		{"ingest-retry-after", secIngest, false, "Retry-After sent with a 503 (whole seconds)", (*durationValue)(&c.RetryAfter)},
		{"ingest-path-aliases", secIngest, false, "extra paths for collection endpoints, alias=endpoint,... (e.g. /e=/track)", (*listValue)(&c.PathAliases)},
		{"ingest-trusted-proxies", secIngest, false, "proxy IPs or CIDRs whose client-IP header is believed, comma-separated", (*listValue)(&c.TrustedProxies)},
		{"ingest-proxy-header", secIngest, false, "header a trusted proxy puts the client IP in", (*stringValue)(&c.ProxyHeader)},
		{"ingest-read-timeout", secIngest, false, "bound on reading a request", (*durationValue)(&c.ReadTimeout)},
		{"ingest-write-timeout", secIngest, false, "bound on writing an answer", (*durationValue)(&c.WriteTimeout)},
		{"ingest-idle-timeout", secIngest, false, "how long an idle keep-alive connection stays open", (*durationValue)(&c.IdleTimeout)},
		{"ingest-max-conns", secIngest, false, "maximum concurrent connections", (*intValue)(&c.MaxConns)},
		{"ingest-drain-delay", secIngest, false, "after SIGTERM, how long /readyz fails while requests are still served", (*durationValue)(&c.DrainDelay)},
	}
}

func (c Ingest) validate(errs *[]error) {
	checkAddr(errs, "TRACKSTREAM_INGEST_ADDR", c.Addr)
	checkPositive(errs, "TRACKSTREAM_INGEST_PRODUCE_TIMEOUT", c.ProduceTimeout)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_BODY_BYTES", c.MaxBodyBytes, 1024, 64<<20)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_DECODED_BYTES", c.MaxDecodedBytes, 1024, 256<<20)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_EVENTS", c.MaxEvents, 1, 10_000)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_EVENT_BYTES", c.MaxEventBytes, 256, 16<<20)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_DEPTH", c.MaxDepth, 4, 1000)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_PROPERTIES", c.MaxProperties, 1, 100_000)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_KEYS", c.MaxKeys, 16, 100_000)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_SOURCE_PATHS", c.MaxSourcePaths, 0, 10_000_000)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_STRING_BYTES", c.MaxStringBytes, 16, 16<<20)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_TYPE_BYTES", c.MaxTypeBytes, 8, 1024)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_ID_BYTES", c.MaxIDBytes, 16, 1024)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_BUFFERED_BYTES", c.MaxBufferedBytes, 1<<20, 4<<30)
	if c.ProducerLinger < 0 || c.ProducerLinger > time.Second {
		errorf(errs, "TRACKSTREAM_INGEST_PRODUCER_LINGER: %s must be between 0 and 1s", c.ProducerLinger)
	}
	if !slices.Contains(ProducerCompressions, c.ProducerCompression) {
		errorf(errs, "TRACKSTREAM_INGEST_PRODUCER_COMPRESSION: %q is not one of %s", c.ProducerCompression, strings.Join(ProducerCompressions, ", "))
	}
	checkPositive(errs, "TRACKSTREAM_INGEST_FUTURE_SKEW", c.FutureSkew)
	checkPositive(errs, "TRACKSTREAM_INGEST_LATE_AFTER", c.LateAfter)
	if c.RetryAfter < time.Second {
		errorf(errs, "TRACKSTREAM_INGEST_RETRY_AFTER: %s must be at least 1s", c.RetryAfter)
	}
	for _, a := range c.PathAliases {
		alias, target, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(alias, "/") || !strings.HasPrefix(target, "/") {
			errorf(errs, "TRACKSTREAM_INGEST_PATH_ALIASES: %q is not /alias=/endpoint", a)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errorf(errs, "TRACKSTREAM_INGEST_TRUSTED_PROXIES: %q is not an IP address or CIDR", p)
			}
		}
	}
	if c.ProxyHeader == "" {
		errorf(errs, "TRACKSTREAM_INGEST_PROXY_HEADER: must not be empty")
	}
	checkPositive(errs, "TRACKSTREAM_INGEST_READ_TIMEOUT", c.ReadTimeout)
	checkPositive(errs, "TRACKSTREAM_INGEST_WRITE_TIMEOUT", c.WriteTimeout)
	checkPositive(errs, "TRACKSTREAM_INGEST_IDLE_TIMEOUT", c.IdleTimeout)
	checkRange(errs, "TRACKSTREAM_INGEST_MAX_CONNS", c.MaxConns, 1, 1<<20)
	if c.DrainDelay < 0 {
		errorf(errs, "TRACKSTREAM_INGEST_DRAIN_DELAY: %s must not be negative", c.DrainDelay)
	}
}
