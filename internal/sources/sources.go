// Package sources is the registry of event sources. admin-api publishes each
// source to the compacted topic trackstream.sources; every ingest replica
// (and admin-api itself) follows that topic into an in-memory Registry, so
// ingest needs nothing but Kafka and stays stateless.
package sources

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

// Kind says how a source authenticates.
type Kind string

// The kinds of source. A browser source is named by its public id (the
// Tracardi source.id, or a Segment write key that is public anyway in a
// web page); a server source by a secret write key, of which only the
// SHA-256 digest is stored.
const (
	KindBrowser Kind = "browser"
	KindServer  Kind = "server"
)

// IPPolicy says what ingest does with a client's IP address before the
// event leaves it.
type IPPolicy string

// The IP policies. Truncate zeroes the host part (IPv4 to /24, IPv6 to
// /48); drop removes the address.
const (
	IPKeep     IPPolicy = "keep"
	IPTruncate IPPolicy = "truncate"
	IPDrop     IPPolicy = "drop"
)

// UnknownTypePolicy says what ingest does with an event whose type has no
// JSON Schema.
type UnknownTypePolicy string

// The unknown-event-type policies.
const (
	UnknownAccept UnknownTypePolicy = "accept"
	UnknownReject UnknownTypePolicy = "reject"
)

// Source is one configured sender of events. Fields added after the first
// release are optional in records so older records keep their meaning: an
// empty Kind is a browser source, an empty IPPolicy truncates, an empty
// UnknownEventTypes accepts, a zero RateLimit is unlimited.
type Source struct {
	// ID is the public source id a browser puts in source.id.
	ID string `json:"id"`
	// Name is the operator's label for the source.
	Name string `json:"name"`
	// Enabled sources are accepted; disabled ones are refused.
	Enabled bool `json:"enabled"`
	// Kind is browser (default) or server.
	Kind Kind `json:"kind,omitempty"`
	// WriteKeyHash is the hex SHA-256 digest of a server source's write
	// key (see NewWriteKey); the key itself is never stored.
	WriteKeyHash string `json:"write_key_hash,omitempty"`
	// AllowedOrigins, when not empty, are the only browser origins
	// (scheme://host[:port], or scheme://*.domain for its subdomains)
	// whose requests are accepted. Empty allows any origin.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// IPPolicy is keep, truncate (default) or drop.
	IPPolicy IPPolicy `json:"ip_policy,omitempty"`
	// UnknownEventTypes is accept (default) or reject: what happens to an
	// event whose type has no JSON Schema.
	UnknownEventTypes UnknownTypePolicy `json:"unknown_event_types,omitempty"`
	// RateLimit caps the requests per second each ingest replica takes
	// from the source (bursts up to the same number); 0 is unlimited.
	RateLimit int       `json:"rate_limit,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EffectiveKind is Kind with the default applied.
func (s *Source) EffectiveKind() Kind {
	if s.Kind == "" {
		return KindBrowser
	}
	return s.Kind
}

// EffectiveIPPolicy is IPPolicy with the default applied.
func (s *Source) EffectiveIPPolicy() IPPolicy {
	if s.IPPolicy == "" {
		return IPTruncate
	}
	return s.IPPolicy
}

// RejectsUnknownTypes reports whether events of a type without a schema
// are refused.
func (s *Source) RejectsUnknownTypes() bool { return s.UnknownEventTypes == UnknownReject }

// OriginAllowed reports whether a browser request from origin may send to
// the source. An empty origin (not a browser, or a same-origin request) is
// allowed; so is any origin when AllowedOrigins is empty.
func (s *Source) OriginAllowed(origin string) bool {
	if origin == "" || len(s.AllowedOrigins) == 0 {
		return true
	}
	origin = strings.ToLower(origin)
	for _, a := range s.AllowedOrigins {
		a = strings.ToLower(strings.TrimSuffix(a, "/"))
		if a == origin {
			return true
		}
		// scheme://*.example.com matches https://shop.example.com, not
		// https://example.com nor https://evilexample.com.
		if scheme, host, ok := strings.Cut(a, "://*."); ok {
			if rest, ok := strings.CutPrefix(origin, scheme+"://"); ok && strings.HasSuffix(rest, "."+host) {
				return true
			}
		}
	}
	return false
}

// Validate reports every problem of s as one error.
func (s *Source) Validate() error {
	var errs []error
	if s.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	switch s.EffectiveKind() {
	case KindBrowser:
	case KindServer:
		if !validHash(s.WriteKeyHash) {
			errs = append(errs, errors.New("a server source needs write_key_hash, the 64 hex digit SHA-256 digest from NewWriteKey"))
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q is not browser or server", s.Kind))
	}
	switch s.EffectiveIPPolicy() {
	case IPKeep, IPTruncate, IPDrop:
	default:
		errs = append(errs, fmt.Errorf("ip_policy %q is not keep, truncate or drop", s.IPPolicy))
	}
	switch s.UnknownEventTypes {
	case "", UnknownAccept, UnknownReject:
	default:
		errs = append(errs, fmt.Errorf("unknown_event_types %q is not accept or reject", s.UnknownEventTypes))
	}
	if s.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate_limit %d is negative", s.RateLimit))
	}
	for _, o := range s.AllowedOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			errs = append(errs, fmt.Errorf("allowed origin %q is not http(s)://host[:port]", o))
		}
	}
	return errors.Join(errs...)
}

// NewID returns a fresh public source id: "src_" and 32 hex digits
// (128 random bits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "src_" + hex.EncodeToString(b[:])
}

// writeKeyPrefix starts every write key, so a leaked one is recognisable
// by secret scanners.
const writeKeyPrefix = "tswk_"

// NewWriteKey returns a fresh secret write key for a server source (256
// random bits; show it to the operator once) and the hash to store in
// Source.WriteKeyHash.
func NewWriteKey() (plain, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	plain = writeKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return plain, HashWriteKey(plain)
}

// HashWriteKey returns the hex SHA-256 digest of a write key, the form
// stored in Source.WriteKeyHash.
func HashWriteKey(plain string) string {
	d := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(d[:])
}

func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size
}

// Publish validates s, writes it to the sources topic and waits for
// Kafka's ack.
func Publish(ctx context.Context, cl *kgo.Client, s Source) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("source %s: %w", s.ID, err)
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode source %s: %w", s.ID, err)
	}
	rec := &kgo.Record{Topic: kafka.SourcesTopic, Key: []byte(s.ID), Value: v}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("publish source %s to %s: %w", s.ID, kafka.SourcesTopic, err)
	}
	return nil
}

// Registry is the in-memory view of the sources topic.
type Registry struct {
	mu   sync.RWMutex
	byID map[string]Source
	// byKey maps the hex digest of a server source's write key to the
	// source id.
	byKey  map[string]string
	loaded atomic.Bool
}

// NewRegistry returns an empty registry; Follow fills it.
func NewRegistry() *Registry {
	return &Registry{byID: map[string]Source{}, byKey: map[string]string{}}
}

// ByWriteKey returns the server source whose write key is plain. The
// digest of plain is compared with the stored one in constant time.
func (r *Registry) ByWriteKey(plain string) (Source, bool) {
	d := sha256.Sum256([]byte(plain))
	hexDigest := hex.EncodeToString(d[:])
	r.mu.RLock()
	defer r.mu.RUnlock()
	id, ok := r.byKey[hexDigest]
	if !ok {
		return Source{}, false
	}
	s, ok := r.byID[id]
	if !ok || s.EffectiveKind() != KindServer {
		return Source{}, false
	}
	stored, err := hex.DecodeString(s.WriteKeyHash)
	if err != nil || subtle.ConstantTimeCompare(stored, d[:]) != 1 {
		return Source{}, false
	}
	return s, true
}

// Get returns the source with id.
func (r *Registry) Get(id string) (Source, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.byID[id]
	return s, ok
}

// List returns every source, oldest first.
func (r *Registry) List() []Source {
	r.mu.RLock()
	out := make([]Source, 0, len(r.byID))
	for _, s := range r.byID {
		out = append(out, s)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// Loaded reports whether the registry has read the topic up to where it
// ended when Follow started.
func (r *Registry) Loaded() bool { return r.loaded.Load() }

// apply handles one record: a source, or a tombstone deleting one.
func (r *Registry) apply(rec *kgo.Record, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s Source
	if rec.Value != nil {
		err := json.Unmarshal(rec.Value, &s)
		if err == nil {
			err = s.Validate()
		}
		if err != nil {
			log.Error("skipping malformed source record", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", err)
			return
		}
	}
	if old, ok := r.byID[string(rec.Key)]; ok && old.WriteKeyHash != "" {
		delete(r.byKey, strings.ToLower(old.WriteKeyHash))
	}
	if rec.Value == nil {
		delete(r.byID, string(rec.Key))
		return
	}
	r.byID[s.ID] = s
	if s.EffectiveKind() == KindServer {
		r.byKey[strings.ToLower(s.WriteKeyHash)] = s.ID
	}
}

// Follow reads the sources topic from the start with its own client built
// from opts, marks the registry loaded once it has caught up, and keeps
// applying changes until ctx ends.
func (r *Registry) Follow(ctx context.Context, opts []kgo.Opt, log *slog.Logger) error {
	return kafka.Follow(ctx, opts, kafka.SourcesTopic, func(rec *kgo.Record) { r.apply(rec, log) }, &r.loaded, log)
}
