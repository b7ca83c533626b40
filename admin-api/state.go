package adminapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

// StateTopic is the compacted topic that holds the admin API's state: users
// (with argon2id password hashes), API tokens and sessions (only SHA-256
// digests of the secrets), and marks of replayed dead letters. Every
// admin-api replica follows it, so they share logins and survive restarts;
// the ClickHouse user of admin-api stays read-only. Restrict it with Kafka
// ACLs to the admin-api principal.
//
// Every record is signed (see sign) with the state key, which Kafka never
// sees, so whoever can write the topic without the key cannot forge a user,
// session or token: unsigned, badly signed and replayed records are
// ignored.
const StateTopic = "trackstream.admin"

// Topic is StateTopic's definition, for kafka.EnsureTopics. Tombstones are
// kept (delete.retention.ms at its maximum) so that a replica reading the
// topic from the start still knows the sequence number of a deleted key
// and refuses an older record of it written again.
func Topic() kafka.Topic {
	compact, forever := "compact", "9223372036854775807"
	return kafka.Topic{Name: StateTopic, Partitions: 1, Configs: map[string]*string{"cleanup.policy": &compact, "delete.retention.ms": &forever}}
}

// StateKeyFileName is the file in the data dir where the all role keeps the
// state key it generates on first start (0600), apart from the embedded
// broker's files and secret: the broker's credentials do not sign state.
const StateKeyFileName = "admin-state.key"

// The headers of a signed state record and the tag that starts what is
// signed (a new record layout gets a new tag).
const (
	seqHeader = "trackstream-state-seq"
	sigHeader = "trackstream-state-sig"
	signTag   = "trackstream.admin/v1\x00"
)

// Reasons a followed state record is ignored (label values of
// trackstream_admin_state_records_ignored_total).
const (
	ignoredUnsigned = "unsigned"
	ignoredBadSig   = "bad_signature"
	ignoredReplayed = "replayed"
)

// Role is what a user or API token may do.
type Role string

// The roles: a viewer reads, an admin does everything.
const (
	RoleViewer Role = "viewer"
	RoleAdmin  Role = "admin"
)

func (r Role) valid() bool { return r == RoleViewer || r == RoleAdmin }

// allows reports whether a caller with role r may use a route needing need.
func (r Role) allows(need Role) bool {
	return r == RoleAdmin || (need == RoleViewer && r == RoleViewer)
}

// User is an admin API account.
type User struct {
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	PasswordHash string `json:"password_hash"`
	Disabled     bool   `json:"disabled"`
	// PasswordChangedAt ends every session created before it.
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// APIToken is a credential for automation, stored by its SHA-256 digest.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Scope     Role      `json:"scope"`
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time `json:"expires_at"`
	Revoked   bool      `json:"revoked"`
}

// Session is a login, stored by the SHA-256 digest of its token.
type Session struct {
	Digest    string    `json:"digest"`
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"`
	// published is the LastSeen Kafka has, so touches are throttled.
	published time.Time
}

// replayMark records that a dead letter was replayed.
type replayMark struct {
	At time.Time `json:"at"`
}

// Key prefixes of the state topic.
const (
	userKey    = "user/"
	tokenKey   = "token/"
	sessionKey = "session/"
	replayKey  = "replay/"
)

// state is the followed view of StateTopic plus the writes of this replica.
type state struct {
	cl  *kgo.Client
	log *slog.Logger
	// key signs and checks records (HMAC-SHA256).
	key []byte
	// ignored counts followed records refused, by reason; nil in unit
	// tests.
	ignored *prometheus.CounterVec
	// adopt accepts unsigned records until the state is loaded: set on the
	// one start that created the key, when the records already in the topic
	// predate signing. adopted holds the live ones, to sign again.
	adopt   bool
	adopted map[string][]byte
	// adoptedEnd is the offset after the last record adopted (0: none).
	adoptedEnd int64

	mu       sync.RWMutex
	users    map[string]User
	tokens   map[string]APIToken // by id
	byDigest map[string]string   // token digest -> id
	sessions map[string]Session  // by digest
	replays  map[string]replayMark
	// applied is the offset of the newest record applied per key, so the
	// follower never rolls back a write this replica already applied.
	applied map[string]int64
	// seqs is the newest sequence number seen per key, deleted keys
	// included: a followed record with a lower one is a replay.
	seqs   map[string]uint64
	loaded atomic.Bool
	// followed is the offset after the last record the follower applied:
	// every record before it, whichever replica wrote it, is applied.
	followed atomic.Int64
	// roles serialises this replica's changes of roles and disabled
	// flags (see guardAdmins).
	roles sync.Mutex
}

func newState(cl *kgo.Client, key []byte, log *slog.Logger) *state {
	return &state{
		cl: cl, log: log, key: key, adopted: map[string][]byte{},
		users: map[string]User{}, tokens: map[string]APIToken{}, byDigest: map[string]string{},
		sessions: map[string]Session{}, replays: map[string]replayMark{}, applied: map[string]int64{},
		seqs: map[string]uint64{},
	}
}

// sign is the HMAC-SHA256 under the state key of the tag, seq, key and
// value (nil, a tombstone, differs from empty), each length-prefixed so no
// two records sign the same bytes.
func (s *state) sign(key string, value []byte, seq uint64) []byte {
	m := hmac.New(sha256.New, s.key)
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	m.Write([]byte(signTag))
	binary.BigEndian.PutUint64(n[:], seq)
	m.Write(n[:])
	field([]byte(key))
	if value == nil {
		m.Write([]byte{0})
	} else {
		m.Write([]byte{1})
		field(value)
	}
	return m.Sum(nil)
}

// signed returns a record of key and value signed with the next sequence
// number of key.
func (s *state) signed(key string, value []byte) *kgo.Record {
	s.mu.Lock()
	seq := s.seqs[key] + 1
	s.mu.Unlock()
	return &kgo.Record{Topic: StateTopic, Key: []byte(key), Value: value, Headers: []kgo.RecordHeader{
		{Key: seqHeader, Value: []byte(strconv.FormatUint(seq, 10))},
		{Key: sigHeader, Value: []byte(hex.EncodeToString(s.sign(key, value, seq)))},
	}}
}

// verify returns the sequence number of a followed record whose signature
// is right; otherwise the reason to ignore it.
func (s *state) verify(r *kgo.Record) (seq uint64, reason string) {
	var seqText, sigText []byte
	for _, h := range r.Headers {
		switch h.Key {
		case seqHeader:
			seqText = h.Value
		case sigHeader:
			sigText = h.Value
		}
	}
	if seqText == nil && sigText == nil {
		return 0, ignoredUnsigned
	}
	seq, err := strconv.ParseUint(string(seqText), 10, 64)
	sig, herr := hex.DecodeString(string(sigText))
	if err != nil || herr != nil || !hmac.Equal(sig, s.sign(string(r.Key), r.Value, seq)) {
		return 0, ignoredBadSig
	}
	return seq, ""
}

// ignore logs and counts a followed record that is not applied. The line
// names the kind of key and the offset, never the key, value or signature.
func (s *state) ignore(reason, key string, offset int64) {
	kind, _, _ := strings.Cut(key, "/")
	s.log.Warn("ignoring an admin state record that is not signed with this replica's state key (forged, replayed, or written with another TRACKSTREAM_ADMIN_STATE_KEY_FILE)",
		"topic", StateTopic, "reason", reason, "key_kind", kind, "offset", offset)
	if s.ignored != nil {
		s.ignored.WithLabelValues(reason).Inc()
	}
}

// applyFollowed checks a record read from the topic and applies it when
// it is signed with the state key (or, while adopting, unsigned).
func (s *state) applyFollowed(r *kgo.Record) {
	key := string(r.Key)
	seq, reason := s.verify(r)
	if reason == ignoredUnsigned && s.adopt && !s.loaded.Load() {
		reason = "" // apply keeps it in adopted, to sign it again
	}
	if reason != "" {
		s.ignore(reason, key, r.Offset)
		return
	}
	if !s.apply(key, r.Value, seq, r.Offset, true) {
		s.ignore(ignoredReplayed, key, r.Offset)
	}
}

// resignAdopted writes every adopted record again, signed, so the state
// survives the next start, which adopts nothing, then deletes the records
// from before signing from the topic, so no later start reads (and warns
// about) them. It runs once the state is loaded.
func (s *state) resignAdopted(ctx context.Context) error {
	s.mu.Lock()
	end := s.adoptedEnd
	adopted := s.adopted
	s.adopted, s.adoptedEnd = map[string][]byte{}, 0
	s.mu.Unlock()
	if end == 0 {
		return nil
	}
	keys := make([]string, 0, len(adopted))
	for k := range adopted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	recs := make([]*kgo.Record, 0, len(keys))
	for _, k := range keys {
		recs = append(recs, s.signed(k, adopted[k]))
	}
	if len(recs) > 0 {
		if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("sign the %d admin state records written before signing, in %s: %w", len(recs), StateTopic, err)
		}
		for _, r := range recs {
			s.apply(string(r.Key), r.Value, seqOf(r), r.Offset, false)
		}
	}
	var before kadm.Offsets
	before.Add(kadm.Offset{Topic: StateTopic, Partition: 0, At: end})
	deleted, err := kadm.NewClient(s.cl).DeleteRecords(ctx, before)
	if err == nil {
		err = deleted.Error()
	}
	if err != nil {
		s.log.Warn("could not delete the admin state records from before signing; later starts ignore them with a warning each", "topic", StateTopic, "before_offset", end, "error", err)
	}
	s.log.Info("signed the admin state records written before records were signed", "topic", StateTopic, "records", len(recs), "deleted_before_offset", end)
	return nil
}

// seqOf is the sequence number of a record this replica signed.
func seqOf(r *kgo.Record) uint64 {
	for _, h := range r.Headers {
		if h.Key == seqHeader {
			n, _ := strconv.ParseUint(string(h.Value), 10, 64)
			return n
		}
	}
	return 0
}

// apply stores one record with sequence number seq; value nil deletes the
// key. fromFollower is set for records read from the topic, in offset
// order; such a record older (by seq) than one seen for its key is a
// replay and is not applied: apply reports false.
func (s *state) apply(key string, value []byte, seq uint64, offset int64, fromFollower bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.applied[key]; ok && offset <= last {
		if fromFollower && value == nil && offset == last {
			delete(s.applied, key) // our own tombstone read back: nothing older can follow
		}
		return true
	}
	if fromFollower && seq < s.seqs[key] {
		return false
	}
	s.seqs[key] = max(s.seqs[key], seq)
	if fromFollower {
		delete(s.adopted, key)
		if seq == 0 { // adopted unsigned: kept to sign again
			if value != nil {
				s.adopted[key] = value
			}
			s.adoptedEnd = offset + 1
		}
	}
	if fromFollower && value == nil {
		delete(s.applied, key) // nothing older can follow a tombstone read in order
	} else {
		s.applied[key] = offset
	}
	kind, id, _ := strings.Cut(key, "/")
	bad := func(err error) {
		s.log.Error("skipping malformed admin state record", "topic", StateTopic, "key_kind", kind, "offset", offset, "error", err)
	}
	switch kind + "/" {
	case userKey:
		if value == nil {
			delete(s.users, id)
			return true
		}
		var u User
		if err := json.Unmarshal(value, &u); err != nil || u.Name != id || !u.Role.valid() {
			bad(err)
			return true
		}
		s.users[id] = u
	case tokenKey:
		if old, ok := s.tokens[id]; ok {
			delete(s.byDigest, old.Digest)
		}
		if value == nil {
			delete(s.tokens, id)
			return true
		}
		var t APIToken
		if err := json.Unmarshal(value, &t); err != nil || t.ID != id || !t.Scope.valid() {
			bad(err)
			return true
		}
		s.tokens[id] = t
		s.byDigest[t.Digest] = id
	case sessionKey:
		if value == nil {
			delete(s.sessions, id)
			return true
		}
		var ss Session
		if err := json.Unmarshal(value, &ss); err != nil || ss.Digest != id {
			bad(err)
			return true
		}
		ss.published = ss.LastSeen
		if old, ok := s.sessions[id]; ok && old.LastSeen.After(ss.LastSeen) {
			ss.LastSeen = old.LastSeen // a local touch newer than Kafka's copy
		}
		s.sessions[id] = ss
	case replayKey:
		if value == nil {
			delete(s.replays, id)
			return true
		}
		var m replayMark
		if err := json.Unmarshal(value, &m); err != nil {
			bad(err)
			return true
		}
		s.replays[id] = m
	default:
		bad(fmt.Errorf("unknown key kind %q", kind))
	}
	return true
}

// put writes v under key and waits for Kafka's ack; the change is visible
// here at once and on other replicas within their fetch interval.
func (s *state) put(ctx context.Context, key string, v any) error {
	_, err := s.putAt(ctx, key, v)
	return err
}

// putAt is put, returning the record's offset.
func (s *state) putAt(ctx context.Context, key string, v any) (int64, error) {
	var value []byte
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, fmt.Errorf("encode admin state %s: %w", key, err)
		}
		value = b
	}
	r := s.signed(key, value)
	if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, fmt.Errorf("write admin state record to %s: %w", StateTopic, err)
	}
	s.apply(key, value, seqOf(r), r.Offset, false)
	return r.Offset, nil
}

// putMany writes several keys in one produce request; nil values delete.
func (s *state) putMany(ctx context.Context, kv map[string]any) error {
	recs := make([]*kgo.Record, 0, len(kv))
	for key, v := range kv {
		var value []byte
		if v != nil {
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode admin state %s: %w", key, err)
			}
			value = b
		}
		recs = append(recs, s.signed(key, value))
	}
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write %d admin state records to %s: %w", len(recs), StateTopic, err)
	}
	for _, r := range recs {
		s.apply(string(r.Key), r.Value, seqOf(r), r.Offset, false)
	}
	return nil
}

// del writes a tombstone for key.
func (s *state) del(ctx context.Context, key string) error { return s.put(ctx, key, nil) }

// follow reads StateTopic from the start with its own client, marks the
// state loaded once caught up, and applies changes until ctx ends.
func (s *state) follow(ctx context.Context, opts []kgo.Opt) error {
	return kafka.Follow(ctx, opts, StateTopic, func(r *kgo.Record) {
		s.applyFollowed(r)
		s.followed.Store(r.Offset + 1)
	}, &s.loaded, s.log)
}

// waitFollowed waits until the follower has applied every record before
// offset, or ctx ends.
func (s *state) waitFollowed(ctx context.Context, offset int64) error {
	for s.followed.Load() < offset {
		select {
		case <-ctx.Done():
			return fmt.Errorf("admin state not read back from %s up to offset %d: %w", StateTopic, offset, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// enabledAdmins counts the enabled users with the admin role.
func (s *state) enabledAdmins() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, u := range s.users {
		if u.Role == RoleAdmin && !u.Disabled {
			n++
		}
	}
	return n
}

// waitLoaded waits until follow has caught up, or ctx ends.
func (s *state) waitLoaded(ctx context.Context) error {
	for !s.loaded.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("admin state not loaded from %s: %w", StateTopic, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (s *state) user(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	return u, ok
}

func (s *state) userList() []User {
	s.mu.RLock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *state) tokenByDigest(digest string) (APIToken, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tokens[s.byDigest[digest]]
	return t, ok
}

func (s *state) token(id string) (APIToken, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tokens[id]
	return t, ok
}

func (s *state) tokenList() []APIToken {
	s.mu.RLock()
	out := make([]APIToken, 0, len(s.tokens))
	for _, t := range s.tokens {
		out = append(out, t)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

func (s *state) session(digest string) (Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss, ok := s.sessions[digest]
	return ss, ok
}

// sessionsOf returns the sessions of user, oldest first.
func (s *state) sessionsOf(user string) []Session {
	s.mu.RLock()
	var out []Session
	for _, ss := range s.sessions {
		if ss.User == user {
			out = append(out, ss)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// touch records use of a session at now and reports whether Kafka's copy
// is older than every and should be refreshed.
func (s *state) touch(digest string, now time.Time, every time.Duration) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[digest]
	if !ok {
		return ss, false
	}
	if now.After(ss.LastSeen) {
		ss.LastSeen = now
	}
	s.sessions[digest] = ss
	return ss, now.Sub(ss.published) >= every
}

func (s *state) replayed(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.replays[id]
	return ok
}

// expired lists the keys the sweeper should delete at now: sessions past
// their absolute or idle expiry or older than their user's last password
// change, and replay marks older than keepReplays.
func (s *state) expired(now time.Time, idle, keepReplays time.Duration) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for d, ss := range s.sessions {
		u, ok := s.users[ss.User]
		if !ok || u.Disabled || now.After(ss.ExpiresAt) || now.Sub(ss.LastSeen) > idle || ss.CreatedAt.Before(u.PasswordChangedAt) {
			keys = append(keys, sessionKey+d)
		}
	}
	for id, m := range s.replays {
		if now.Sub(m.At) > keepReplays {
			keys = append(keys, replayKey+id)
		}
	}
	sort.Strings(keys)
	return keys
}
