// Package ingest is trackstream's public collector: it decodes and
// validates tracking calls, authenticates their source, produces the events
// to Kafka and answers 2xx only after Kafka acknowledged every accepted
// event (contract G1). Its router holds collection routes only; admin routes
// live in another role on another listener.
package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/sources"
)

// ProducerOpts are the franz-go options ingest's producer needs on top of
// the shared client options: acks from all in-sync replicas, idempotence
// (franz-go's default), a bounded buffer and a bounded delivery time.
func ProducerOpts(cfg config.Ingest) []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProduceRequestTimeout(cfg.ProduceTimeout),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	}
}

// retryAfterSeconds is the Retry-After sent with a 503.
const retryAfterSeconds = 5

// Server is the public collector.
type Server struct {
	cfg      config.Ingest
	app      *fiber.App
	producer *kgo.Client
	sources  *sources.Registry
	log      *slog.Logger
	m        *metrics
}

// New builds the collector. producer must have been built with
// ProducerOpts; registry must be followed by the caller.
func New(cfg config.Ingest, producer *kgo.Client, registry *sources.Registry, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, producer: producer, sources: registry, log: log, m: m}
	s.app = fiber.New(fiber.Config{
		AppName:               "trackstream-ingest",
		BodyLimit:             cfg.MaxBodyBytes,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		Concurrency:           16 * 1024,
		ReadBufferSize:        8 * 1024,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
	})
	s.app.Use(s.countRequests)
	s.app.Post("/track", s.track)
	return s, nil
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
	return s.app.Listener(ln)
}

// Shutdown stops accepting connections, lets requests in flight finish
// (bounded by ctx) and flushes the producer.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.app.ShutdownWithContext(ctx)
	if ferr := s.producer.Flush(ctx); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush producer: %w", ferr))
	}
	return err
}

type trackResponse struct {
	Accepted int         `json:"accepted"`
	IDs      []string    `json:"ids"`
	Rejected []Rejection `json:"rejected"`
}

func (s *Server) track(c *fiber.Ctx) error {
	start := time.Now()
	receivedAt := start.UTC().Truncate(time.Millisecond)
	body, err := s.requestBody(c)
	if err != nil {
		return err
	}
	s.m.bodyBytes.Observe(float64(len(body)))
	payload, events, rejected, err := decodeTrack(body, receivedAt, Limits{MaxEvents: s.cfg.MaxEvents})
	if err != nil {
		return err
	}
	src, ok := s.sources.Get(payload.Source.ID)
	switch {
	case !ok:
		return &requestError{fiber.StatusUnauthorized, "unknown_source", "source.id is not a known source; create one with the admin API"}
	case !src.Enabled:
		return &requestError{fiber.StatusForbidden, "source_disabled", "the source is disabled"}
	}
	s.m.events.WithLabelValues("rejected").Add(float64(len(rejected)))
	if len(events) == 0 {
		return c.Status(fiber.StatusBadRequest).JSON(trackResponse{IDs: []string{}, Rejected: rejected})
	}
	if err := s.produce(events); err != nil {
		// Too large for Kafka is permanent: a 503 would have the client
		// retry it forever.
		if errors.Is(err, kerr.MessageTooLarge) {
			return &requestError{fiber.StatusRequestEntityTooLarge, "event_too_large", "an event is larger than Kafka accepts; send smaller events"}
		}
		s.log.Warn("produce failed; answering 503", "source", src.ID, "events", len(events), "error", err)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
		return &requestError{fiber.StatusServiceUnavailable, "kafka_unavailable", "the events could not be stored durably; retry later"}
	}
	s.m.events.WithLabelValues("accepted").Add(float64(len(events)))
	s.m.requestDuration.Observe(time.Since(start).Seconds())
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	if rejected == nil {
		rejected = []Rejection{}
	}
	return c.Status(fiber.StatusOK).JSON(trackResponse{Accepted: len(events), IDs: ids, Rejected: rejected})
}

// requestBody returns the request body, gunzipped when it was sent with
// Content-Encoding: gzip. Fiber's c.Body() decompresses with no size limit
// (BodyLimit applies to the compressed bytes), so the raw body is read and
// decompressed here through a reader capped at MaxBodyBytes.
func (s *Server) requestBody(c *fiber.Ctx) ([]byte, error) {
	raw := c.BodyRaw()
	switch strings.ToLower(strings.TrimSpace(c.Get(fiber.HeaderContentEncoding))) {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
	default:
		return nil, &requestError{fiber.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding must be gzip or absent"}
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, &requestError{fiber.StatusBadRequest, "invalid_encoding", "the body is not valid gzip"}
	}
	body, err := io.ReadAll(io.LimitReader(zr, int64(s.cfg.MaxBodyBytes)+1))
	if err != nil {
		return nil, &requestError{fiber.StatusBadRequest, "invalid_encoding", "the body is not valid gzip"}
	}
	if len(body) > s.cfg.MaxBodyBytes {
		return nil, &requestError{fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes once decompressed", s.cfg.MaxBodyBytes)}
	}
	return body, nil
}

// produce hands every event to the producer without blocking (TryProduce)
// and waits for all acknowledgements, bounded by the produce timeout.
func (s *Server) produce(events []event.Event) error {
	start := time.Now()
	defer func() { s.m.produceDuration.Observe(time.Since(start).Seconds()) }()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ProduceTimeout)
	defer cancel()
	// Encode every event before producing any, so an event that cannot
	// be encoded never leaves the others of its request half written.
	values := make([][]byte, len(events))
	for i := range events {
		v, err := events[i].Marshal()
		if err != nil {
			return fmt.Errorf("encode event %s: %w", events[i].ID, err)
		}
		values[i] = v
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	for i := range events {
		wg.Add(1)
		s.producer.TryProduce(ctx, &kgo.Record{
			Topic:   kafka.EventsTopic,
			Key:     events[i].Key(),
			Value:   values[i],
			Headers: []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte(event.FormatVersion)}},
		}, done)
	}
	acked := make(chan struct{})
	go func() { wg.Wait(); close(acked) }()
	select {
	case <-acked:
	case <-time.After(s.cfg.ProduceTimeout + time.Second):
		s.m.produceErrors.Inc()
		return errors.New("no acknowledgement within the produce timeout")
	}
	if firstErr != nil {
		s.m.produceErrors.Inc()
	}
	return firstErr
}

// countRequests answers errors itself (so their status is known) and counts
// every request by route and status class.
func (s *Server) countRequests(c *fiber.Ctx) error {
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	s.m.requests.WithLabelValues(c.Route().Path, strconv.Itoa(c.Response().StatusCode()/100)+"xx").Inc()
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
			re.Message = fmt.Sprintf("the body exceeds %d bytes", s.cfg.MaxBodyBytes)
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
