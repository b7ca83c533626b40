// Package ingest is trackstream's public collector: it decodes and
// validates tracking calls (Tracardi-style /track, the Segment HTTP
// Tracking API under /v1/, a GET pixel), authenticates their source,
// produces the events to Kafka and answers 2xx only after Kafka
// acknowledged every accepted event (contract G1). It also serves the
// browser tracker script. Its router holds collection and health routes
// only; admin routes live in another role on another listener.
package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/tracker"
	"github.com/trackstream/trackstream/schemas"
)

// ProducerOpts are the franz-go options ingest's producer needs on top of
// the shared client options: acks from all in-sync replicas, idempotence
// (franz-go's default), a bounded buffer and a bounded delivery time.
func ProducerOpts(cfg config.Ingest) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProduceRequestTimeout(cfg.ProduceTimeout),
		kgo.ProducerLinger(cfg.ProducerLinger),
	}
	if cfg.ProducerCompression == "lz4" {
		return append(opts, kgo.WithCompressor(&lz4Compressor{}))
	}
	return append(opts, kgo.ProducerBatchCompression(compression(cfg.ProducerCompression), kgo.NoCompression()))
}

// compression is the franz-go codec named by TRACKSTREAM_INGEST_PRODUCER_COMPRESSION
// (validated by the configuration) other than lz4, which lz4Compressor
// writes.
func compression(name string) kgo.CompressionCodec {
	switch name {
	case "zstd":
		return kgo.ZstdCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "gzip":
		return kgo.GzipCompression()
	}
	return kgo.NoCompression()
}

// The collection endpoints. PixelPath (and TrackerPath, the script)
// answer GET; the others POST.
const (
	TrackPath   = "/track"
	PixelPath   = "/p.gif"
	SegmentBase = "/v1/"
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
)

// readyCacheFor is how long a Kafka reachability result is reused, so
// load balancer probes never hammer Kafka.
const readyCacheFor = time.Second

// Server is the public collector.
type Server struct {
	cfg      config.Ingest
	lim      Limits
	app      *fiber.App
	producer *kgo.Client
	sources  *sources.Registry
	schemas  *schemaSet
	// paths bounds the distinct paths of each source's events.
	paths   *pathBudget
	ips     ipResolver
	limiter *limiter
	log     *slog.Logger
	m       *metrics
	geo     *enrich.GeoIP

	draining atomic.Bool
	readyMu  sync.Mutex
	readyAt  time.Time
	readyErr error
}

// Option changes how New builds the collector.
type Option func(*Server)

// WithGeoIP looks every event's client address up in g before the
// source's IP policy truncates or drops it, and records country, region,
// city and the database build in the event.
func WithGeoIP(g *enrich.GeoIP) Option { return func(s *Server) { s.geo = g } }

// New builds the collector. producer must have been built with
// ProducerOpts; registry must be followed by the caller. Every
// configuration problem (an alias of an unknown endpoint, a bad trusted
// proxy) is reported here.
func New(cfg config.Ingest, producer *kgo.Client, registry *sources.Registry, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Server, error) {
	all, err := schemas.EventSchemas()
	if err != nil {
		return nil, err
	}
	set, err := compileSchemas(all)
	if err != nil {
		return nil, err
	}
	script, err := tracker.Load()
	if err != nil {
		return nil, fmt.Errorf("load the browser tracker: %w", err)
	}
	ips, err := newIPResolver(cfg.TrustedProxies, cfg.ProxyHeader)
	if err != nil {
		return nil, fmt.Errorf("TRACKSTREAM_INGEST_TRUSTED_PROXIES: %w", err)
	}
	s := &Server{
		cfg: cfg, lim: limitsOf(cfg), producer: producer, sources: registry,
		schemas: set, ips: ips, limiter: newLimiter(), log: log, paths: newPathBudget(cfg.MaxSourcePaths),
	}
	for _, o := range opts {
		o(s)
	}
	if s.m, err = newMetrics(reg, producer); err != nil {
		return nil, err
	}
	s.app = fiber.New(fiber.Config{
		AppName:        "trackstream-ingest",
		BodyLimit:      cfg.MaxBodyBytes,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		Concurrency:    cfg.MaxConns,
		ReadBufferSize: 8 * 1024,
		// Connections waiting for their next request (about half of
		// them under load: the others wait for Kafka's ack) give their
		// read and write buffers and request context back to the pools,
		// at the cost of a one-byte read per request: 8-12 MiB less heap
		// at 1,000 connections (S5 in docs/benchmarks.md).
		ReduceMemoryUsage:     true,
		DisableStartupMessage: true,
		// Fiber's own gzip handling has no limit; requestBody decompresses.
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 s.errorHandler,
	})
	s.app.Use(s.countRequests, refuseAmbiguousFraming, s.cors)
	if err := s.mount(cfg.PathAliases, script); err != nil {
		return nil, err
	}
	return s, nil
}

// mount registers every endpoint and its aliases.
func (s *Server) mount(aliases []string, script tracker.Script) error {
	type endpoint struct {
		method  string
		handler fiber.Handler
	}
	eps := map[string]endpoint{
		TrackPath:   {fiber.MethodPost, s.track},
		PixelPath:   {fiber.MethodGet, s.pixel},
		TrackerPath: {fiber.MethodGet, trackerHandler(script)},
	}
	for _, t := range append(slices.Clone(segmentTypes), "batch") {
		// Segment's API also takes each call on its initial (/v1/t,
		// /v1/p, ... /v1/b), where analytics.js (analytics-next) sends.
		h := s.segment(t)
		eps[SegmentBase+t] = endpoint{fiber.MethodPost, h}
		eps[SegmentBase+t[:1]] = endpoint{fiber.MethodPost, h}
	}
	paths := map[string]endpoint{}
	for p, ep := range eps {
		paths[p] = ep
	}
	for _, a := range aliases {
		alias, target, _ := strings.Cut(a, "=")
		ep, ok := eps[target]
		if !ok {
			return fmt.Errorf("TRACKSTREAM_INGEST_PATH_ALIASES: %q aliases %s, which is not a collection endpoint (%s)", a, target, strings.Join(sortedKeys(eps), ", "))
		}
		if _, taken := paths[alias]; taken || alias == HealthzPath || alias == ReadyzPath {
			return fmt.Errorf("TRACKSTREAM_INGEST_PATH_ALIASES: %q: %s is already a route", a, alias)
		}
		paths[alias] = ep
	}
	for _, p := range sortedKeys(paths) {
		ep := paths[p]
		s.app.Add(ep.method, p, ep.handler)
		if ep.method == fiber.MethodPost {
			s.app.Options(p, s.preflight)
		}
	}
	s.app.Get(HealthzPath, func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get(ReadyzPath, s.readyz)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Routes lists the method and path of every route on the public router.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.app.GetRoutes(true) {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(lingerListener{ln})
}

// Drain makes the public /readyz fail from now on and asks clients to
// close their connections, so load balancers move traffic away.
func (s *Server) Drain() { s.draining.Store(true) }

// Ready reports why the collector cannot take events now, or nil: it is
// draining (errStopping), the sources are not loaded
// (errSourcesNotLoaded), or Kafka is unreachable (errKafkaUnreachable,
// checked at most once a second; the cause is logged when it starts or
// changes).
func (s *Server) Ready(ctx context.Context) error {
	if s.draining.Load() {
		return errStopping
	}
	if !s.sources.Loaded() {
		return fmt.Errorf("%w from %s", errSourcesNotLoaded, kafka.SourcesTopic)
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if time.Since(s.readyAt) > readyCacheFor {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := kafka.Ping(pctx, s.producer)
		cancel()
		prev := s.readyErr
		s.readyErr = nil
		if err != nil {
			s.readyErr = fmt.Errorf("%w: %w", errKafkaUnreachable, err)
		}
		switch {
		case s.readyErr != nil && (prev == nil || prev.Error() != s.readyErr.Error()):
			s.log.Warn("not ready", "error", s.readyErr)
		case s.readyErr == nil && prev != nil:
			s.log.Info("ready again: kafka reachable")
		}
		s.readyAt = time.Now()
	}
	return s.readyErr
}

// The causes of Ready's errors; the public /readyz answers only these
// texts, never the underlying error (which names brokers and addresses).
var (
	errStopping         = errors.New("stopping")
	errSourcesNotLoaded = errors.New("sources not loaded")
	errKafkaUnreachable = errors.New("kafka unreachable")
)

// readyReason is the short, fixed text /readyz answers for err.
func readyReason(err error) string {
	for _, known := range []error{errStopping, errSourcesNotLoaded, errKafkaUnreachable} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return "not ready"
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"ready": false, "reason": readyReason(err)})
	}
	return c.JSON(fiber.Map{"ready": true})
}

// Shutdown stops the collector: readiness fails at once, requests are
// still served for the drain delay (so load balancers stop sending
// first), then the listener stops, requests in flight finish (bounded by
// ctx) and the producer flushes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	if d := s.cfg.DrainDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	err := s.app.ShutdownWithContext(ctx)
	if ferr := s.producer.Flush(ctx); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush producer: %w", ferr))
	}
	return err
}

// trackResponse is the answer to a collection request. Profile is
// /track's: the profile the events were stored under, where Tracardi's
// trackers read it.
type trackResponse struct {
	Accepted int         `json:"accepted"`
	IDs      []string    `json:"ids"`
	Rejected []Rejection `json:"rejected"`
	Profile  *profileRef `json:"profile,omitempty"`
}

// profileRef names a profile, as Tracardi does: {"id": ...}.
type profileRef struct {
	ID string `json:"id"`
}

func (s *Server) track(c *fiber.Ctx) error {
	return s.collect(c, strictType, func(body []byte) (*batch, error) {
		b, err := decodeTrack(body, s.lim, s.paths.hashSeed())
		if err == nil {
			giveProfile(b)
		}
		return b, err
	}, errNoSourceID, replyJSON)
}

// The refusals of /track and pixel requests that name no source, made
// once rather than on every request (each cost an allocation and a
// fmt.Sprintf); nothing changes them.
var (
	errNoSourceID    = &requestError{fiber.StatusBadRequest, "missing_field", "source.id is required"}
	errNoPixelSource = &requestError{fiber.StatusBadRequest, "missing_field", "the s parameter (source id) is required"}
)

func (s *Server) segment(callType string) fiber.Handler {
	missing := &requestError{401, "missing_write_key", "send the write key as the HTTP Basic username or as writeKey in the body"}
	return func(c *fiber.Ctx) error {
		return s.collect(c, gzipAnyType, func(body []byte) (*batch, error) { return decodeSegment(body, callType, s.lim, s.paths.hashSeed()) }, missing, replyJSON)
	}
}

func (s *Server) pixel(c *fiber.Ctx) error {
	// string() copies: nothing kept may point into Fiber's buffers.
	query := string(c.Request().URI().QueryString())
	return s.collect(c, strictType, func([]byte) (*batch, error) { return decodePixel(query, s.lim) },
		errNoPixelSource, replyGIF)
}

func replyJSON(c *fiber.Ctx, resp trackResponse) error {
	// The answer is written on the stack and copied into the response's
	// pooled body buffer: a new slice handed to Send would be one more
	// allocation per request.
	var buf [512]byte
	if body, ok := appendPlainResponse(buf[:0], resp); ok {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Status(fiber.StatusOK).Response().SetBody(body)
		return nil
	}
	return c.Status(fiber.StatusOK).JSON(resp)
}

// appendPlainResponse writes the common answer, every event accepted
// with ids that need no escaping, as encoding/json would; ok is false
// for any other answer, which goes through encoding/json.
func appendPlainResponse(dst []byte, resp trackResponse) ([]byte, bool) {
	if len(resp.Rejected) > 0 {
		return nil, false
	}
	for _, id := range resp.IDs {
		if !plainJSON(id) {
			return nil, false
		}
	}
	if resp.Profile != nil && !plainJSON(resp.Profile.ID) {
		return nil, false
	}
	dst = append(dst, `{"accepted":`...)
	dst = strconv.AppendInt(dst, int64(resp.Accepted), 10)
	dst = append(dst, `,"ids":[`...)
	for i, id := range resp.IDs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, id...)
		dst = append(dst, '"')
	}
	dst = append(dst, `],"rejected":[]`...)
	if resp.Profile != nil {
		dst = append(dst, `,"profile":{"id":"`...)
		dst = append(dst, resp.Profile.ID...)
		dst = append(dst, `"}`...)
	}
	return append(dst, '}'), true
}

// plainJSON reports whether s is written in JSON as it is, with no
// escaping (encoding/json also escapes < > &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func replyGIF(c *fiber.Ctx, _ trackResponse) error {
	c.Set(fiber.HeaderCacheControl, "no-store, max-age=0")
	c.Set(fiber.HeaderContentType, "image/gif")
	return c.Status(fiber.StatusOK).Send(transparentGIF)
}

// collect is every collection endpoint: read the body, decode it,
// authenticate the source, rate limit, judge each event, produce the
// accepted ones and answer once Kafka acknowledged them.
//
// It only reads and decodes; accept does the rest. Decoding is the
// deepest call of a request, and on top of accept's frame (the request's
// metadata, source and answer) it made a request need more than the
// 8 KiB a goroutine's stack starts with: each of ingest's connection
// goroutines then kept a 16 KiB stack, 8 MiB more at 1,000 connections
// (S5 in docs/benchmarks.md; TestRequestStack).
func (s *Server) collect(c *fiber.Ctx, types contentTypes, decode func([]byte) (*batch, error), missing *requestError, reply func(*fiber.Ctx, trackResponse) error) error {
	start := time.Now()
	var body []byte
	if c.Method() == fiber.MethodPost {
		var err error
		if body, err = s.requestBody(c, types); err != nil {
			return err
		}
		s.m.bodyBytes.Observe(float64(len(body)))
	}
	b, err := decode(body)
	if err != nil {
		return err
	}
	return s.accept(c, b, start, missing, reply)
}

// accept is collect once the body is decoded into b; start is when the
// request began.
func (s *Server) accept(c *fiber.Ctx, b *batch, start time.Time, missing *requestError, reply func(*fiber.Ctx, trackResponse) error) error {
	meta := s.meta(c, start)
	src, rerr := authenticate(b, meta, s.sources, missing)
	if rerr != nil {
		return rerr
	}
	if len(src.AllowedOrigins) > 0 && meta.origin != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, meta.origin)
		c.Vary(fiber.HeaderOrigin)
	}
	if ok, wait := s.limiter.allow(src.ID, src.RateLimit, start); !ok {
		s.m.rateLimited.Inc()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return &requestError{fiber.StatusTooManyRequests, "rate_limited", fmt.Sprintf("the source may send %d requests per second to each collector; retry later", src.RateLimit)}
	}
	events, rejected := judge(b, &src, &meta, &s.lim, s.schemas, s.paths)
	for _, r := range rejected {
		s.m.rejected.WithLabelValues(r.Code).Inc()
	}
	s.m.events.WithLabelValues("rejected").Add(float64(len(rejected)))
	if rejected == nil {
		rejected = []Rejection{}
	}
	if len(events) == 0 {
		return c.Status(fiber.StatusBadRequest).JSON(trackResponse{IDs: []string{}, Rejected: rejected})
	}
	if err := s.produce(events); err != nil {
		return s.produceRefusal(c, src, len(events), err)
	}
	s.m.events.WithLabelValues("accepted").Add(float64(len(events)))
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	resp := trackResponse{Accepted: len(events), IDs: ids, Rejected: rejected}
	if b.profileID != "" {
		resp.Profile = &profileRef{b.profileID}
	}
	return reply(c, resp)
}

// produceRefusal maps a produce failure to its answer.
func (s *Server) produceRefusal(c *fiber.Ctx, src sources.Source, n int, err error) error {
	// Too large for Kafka is permanent: a 503 would have the client retry
	// it forever.
	if errors.Is(err, kerr.MessageTooLarge) {
		return &requestError{fiber.StatusRequestEntityTooLarge, "event_too_large", "an event is larger than Kafka accepts; send smaller events"}
	}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
	if errors.Is(err, kgo.ErrMaxBuffered) {
		s.log.Warn("producer buffer full; answering 503", "source", src.ID, "events", n, "buffered_bytes", s.producer.BufferedProduceBytes())
		return &requestError{fiber.StatusServiceUnavailable, "overloaded", "the collector's buffer to Kafka is full; retry later"}
	}
	s.log.Warn("produce failed; answering 503", "source", src.ID, "events", n, "error", err)
	return &requestError{fiber.StatusServiceUnavailable, "kafka_unavailable", "the events could not be stored durably; retry later"}
}

// meta collects what ingest keeps from the request besides the body, all
// copied out of Fiber's reused buffers.
func (s *Server) meta(c *fiber.Ctx, now time.Time) requestMeta {
	m := requestMeta{
		receivedAt: now.UTC().Truncate(time.Millisecond),
		userAgent:  strings.Clone(c.Get(fiber.HeaderUserAgent)),
		origin:     strings.Clone(c.Get(fiber.HeaderOrigin)),
		hints: event.ClientHints{
			UA:       clientHint(c.Get("Sec-CH-UA")),
			Mobile:   clientHint(c.Get("Sec-CH-UA-Mobile")),
			Platform: clientHint(c.Get("Sec-CH-UA-Platform")),
		},
		geo: s.geo,
	}
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	m.clientIP = s.ips.clientIP(peer, c.Get(s.ips.header))
	if user, _, ok := parseBasicAuth(c.Get(fiber.HeaderAuthorization)); ok {
		m.writeKey = user
	}
	return m
}

// maxClientHintBytes bounds a client hint header ingest keeps; real ones
// are under 150 bytes.
const maxClientHintBytes = 256

// clientHint copies a client hint header out of Fiber's buffers, or
// returns "" for one too long to be real.
func clientHint(v string) string {
	if len(v) > maxClientHintBytes {
		return ""
	}
	return strings.ToValidUTF8(strings.Clone(v), "\uFFFD")
}

// gzipReaders keeps gzip readers (and their 32 KiB windows) between
// requests.
var gzipReaders sync.Pool

// contentTypes says which declared Content-Types an endpoint takes.
type contentTypes int

const (
	// strictType: JSON (application/json, +json) or text/plain
	// (navigator.sendBeacon) only.
	strictType contentTypes = iota
	// gzipAnyType: as strictType, and a gzip body under any
	// Content-Type as long as it decompresses to a JSON object, as
	// RudderStack's data plane takes it (rudder-sdk-node sends gzip JSON
	// as application/x-www-form-urlencoded).
	gzipAnyType
)

// requestBody returns the request body, gunzipped when it was sent with
// Content-Encoding: gzip. Fiber's c.Body() decompresses with no size limit
// (BodyLimit applies to the compressed bytes), so the raw body is read and
// decompressed here through a reader capped at MaxDecodedBytes.
func (s *Server) requestBody(c *fiber.Ctx, types contentTypes) ([]byte, error) {
	ct := c.Get(fiber.HeaderContentType)
	jsonType := ct == "" || isJSONType(ct)
	raw := c.BodyRaw()
	tooLarge := func() *requestError {
		return &requestError{fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes once decompressed", s.cfg.MaxDecodedBytes)}
	}
	gzipped := false
	switch strings.ToLower(strings.TrimSpace(c.Get(fiber.HeaderContentEncoding))) {
	case "", "identity":
	case "gzip", "x-gzip":
		gzipped = true
	default:
		return nil, &requestError{fiber.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding must be gzip or absent"}
	}
	if !jsonType && !(gzipped && types == gzipAnyType) {
		return nil, &requestError{fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json or text/plain (navigator.sendBeacon)"}
	}
	if !gzipped {
		if len(raw) > s.cfg.MaxDecodedBytes {
			return nil, tooLarge()
		}
		return raw, nil
	}
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader)
	}
	defer gzipReaders.Put(zr)
	if err := zr.Reset(bytes.NewReader(raw)); err != nil {
		return nil, &requestError{fiber.StatusBadRequest, "invalid_encoding", "the body is not valid gzip"}
	}
	body, err := io.ReadAll(io.LimitReader(zr, int64(s.cfg.MaxDecodedBytes)+1))
	if err != nil {
		return nil, &requestError{fiber.StatusBadRequest, "invalid_encoding", "the body is not valid gzip"}
	}
	if len(body) > s.cfg.MaxDecodedBytes {
		return nil, tooLarge()
	}
	if !jsonType && !startsAsObject(body) {
		return nil, &requestError{fiber.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("the body was sent as %s and is not a JSON object once decompressed; send JSON as application/json", ct)}
	}
	return body, nil
}

// startsAsObject reports whether b's first byte after whitespace opens a
// JSON object (whether it is one is for the decoder to say).
func startsAsObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// isJSONType reports whether a Content-Type declares JSON or text/plain.
func isJSONType(ct string) bool {
	// What trackers send, answered without mime.ParseMediaType's
	// allocations; it would accept both as they are.
	if ct == fiber.MIMEApplicationJSON || ct == fiber.MIMETextPlain {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || mt == "text/plain" || strings.HasSuffix(mt, "+json"))
}

// formatHeaders is the header every record carries; franz-go only reads
// it, so all records share it.
var formatHeaders = []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte(event.FormatVersion)}}

// recordSet is the records of one request and the buffer their keys and
// values are encoded in. Sets are pooled (getRecordSet), and a set goes
// back only once Kafka has answered for every one of its records (the
// last produce promise releases it): franz-go reads a record until its
// promise, even after the request gave up waiting.
type recordSet struct {
	buf  []byte
	ends []int // where each key and each value ends in buf
	recs []kgo.Record
}

// recordSets keeps record sets between requests: their buffer was the
// largest allocation of a single-event request.
var recordSets = sync.Pool{New: func() any { return new(recordSet) }}

// maxPooledRecordBytes is the largest buffer a pooled set keeps: room for
// the usual requests, not for the largest one allowed.
const maxPooledRecordBytes = 64 << 10

// getRecordSet takes an empty set; give it back with release.
func getRecordSet() *recordSet { return recordSets.Get().(*recordSet) }

// release empties rs and hands it back for another request; nothing may
// use rs or its records after. A set whose buffer grew past
// maxPooledRecordBytes is left to the collector.
func (rs *recordSet) release() {
	if cap(rs.buf) > maxPooledRecordBytes {
		return
	}
	clear(rs.recs) // no reference to a request's context or values stays
	rs.buf, rs.ends, rs.recs = rs.buf[:0], rs.ends[:0], rs.recs[:0]
	recordSets.Put(rs)
}

// encode encodes every event into rs's records, before any is produced,
// so an event that cannot be encoded never leaves the others of its
// request half written. Keys and values are sub-slices of rs's buffer,
// capped at their length: nothing points into the request body, which
// Fiber reuses once the handler returns (even when a record is still
// buffered after a timeout).
func (rs *recordSet) encode(events []event.Event) error {
	size := 0
	for i := range events {
		e := &events[i]
		size += 448 + len(e.Properties) + len(e.Context) + len(e.UserAgent) + len(e.URL) + len(e.Referrer)
	}
	buf, ends := slices.Grow(rs.buf[:0], size), rs.ends[:0]
	var err error
	for i := range events {
		buf = events[i].AppendKey(buf)
		ends = append(ends, len(buf))
		if buf, err = events[i].AppendJSON(buf); err != nil {
			return err
		}
		ends = append(ends, len(buf))
	}
	rs.buf, rs.ends = buf, ends
	rs.recs = slices.Grow(rs.recs[:0], len(events))[:len(events)]
	start := 0
	for i := range rs.recs {
		k, v := ends[2*i], ends[2*i+1]
		rs.recs[i] = kgo.Record{Topic: kafka.EventsTopic, Key: buf[start:k:k], Value: buf[k:v:v], Headers: formatHeaders}
		start = v
	}
	return nil
}

// produce hands every event to the producer without blocking (TryProduce)
// and waits for all acknowledgements, bounded by the produce timeout.
func (s *Server) produce(events []event.Event) error {
	start := time.Now()
	defer func() { s.m.produceDuration.Observe(time.Since(start).Seconds()) }()
	rs := getRecordSet()
	if err := rs.encode(events); err != nil {
		rs.release()
		return err
	}
	recs := rs.recs
	// Refuse at once when the request cannot fit in the buffer, rather
	// than buffer part of it.
	size := 0
	for i := range recs {
		size += len(recs[i].Value) + len(recs[i].Key) + 64
	}
	if s.producer.BufferedProduceBytes()+int64(size) > int64(s.cfg.MaxBufferedBytes) {
		rs.release()
		s.m.produceErrors.Inc()
		return kgo.ErrMaxBuffered
	}
	w := newAckWait(rs)
	// Cancelled when the request gives up waiting, so records still
	// buffered then fail instead of being delivered after a 503.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range recs {
		s.producer.TryProduce(ctx, &recs[i], w.done)
	}
	t := getTimer(s.cfg.ProduceTimeout + time.Second)
	defer putTimer(t)
	select {
	case <-w.acked:
	case <-w.full:
		// Another request filled the buffer meanwhile: answer now; what
		// was buffered is delivered or times out on its own.
		s.m.produceErrors.Inc()
		return kgo.ErrMaxBuffered
	case <-t.C:
		s.m.produceErrors.Inc()
		return errors.New("no acknowledgement within the produce timeout")
	}
	if err := w.err(); err != nil {
		s.m.produceErrors.Inc()
		return err
	}
	return nil
}

// timers keeps the timers that bound each request's wait for Kafka: a new
// timer and its channel were three allocations per request.
var timers sync.Pool

// getTimer takes a timer that fires once after d.
func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// putTimer stops t and hands it back. Since Go 1.23 a stopped timer's
// channel holds no value, even one that fired unread, so the next
// request cannot receive this one's expiry.
func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

// ackWait collects the acknowledgements of one request's records.
type ackWait struct {
	remaining atomic.Int64
	// set holds the records; it is released once every one has its
	// answer, before acked closes.
	set        *recordSet
	acked      chan struct{} // closed by the last acknowledgement
	full       chan struct{} // closed by the first ErrMaxBuffered
	mu         sync.Mutex
	first      error
	fullClosed bool
}

// newAckWait waits for the answers to set's records.
func newAckWait(set *recordSet) *ackWait {
	n := len(set.recs)
	w := &ackWait{acked: make(chan struct{}), full: make(chan struct{}), set: set}
	w.remaining.Store(int64(n))
	return w
}

// done is the produce promise of every record.
func (w *ackWait) done(_ *kgo.Record, err error) {
	if err != nil {
		w.mu.Lock()
		if w.first == nil {
			w.first = err
		}
		if !w.fullClosed && errors.Is(err, kgo.ErrMaxBuffered) {
			w.fullClosed = true
			close(w.full)
		}
		w.mu.Unlock()
	}
	if w.remaining.Add(-1) == 0 {
		w.set.release()
		close(w.acked)
	}
}

// err is the first error any record failed with, or nil.
func (w *ackWait) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first
}

// countRequests answers errors itself (so their status is known) and counts
// every request by route and status class.
func (s *Server) countRequests(c *fiber.Ctx) error {
	start := time.Now()
	if s.draining.Load() {
		c.Context().SetConnectionClose()
	}
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	route := c.Route().Path
	s.m.requests.WithLabelValues(route, strconv.Itoa(c.Response().StatusCode()/100)+"xx").Inc()
	s.m.requestDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return nil
}

// errorHandler turns every refusal into a JSON error with its status.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var re *requestError
	var fe *fiber.Error
	switch {
	case errors.As(err, &re):
	case errors.As(err, &fe):
		re = &requestError{Status: fe.Code, Code: codeFor(fe.Code), Message: fe.Message}
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			// fasthttp refused the body before reading it.
			re.Message = fmt.Sprintf("the body exceeds %d bytes", s.cfg.MaxBodyBytes)
			lingerOnClose(c)
		}
	default:
		s.log.Error("ingest request failed", "path", c.Path(), "error", err)
		re = &requestError{Status: fiber.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	return c.Status(re.Status).JSON(re)
}

func codeFor(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "body_too_large"
	case fiber.StatusRequestTimeout:
		return "timeout"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}
