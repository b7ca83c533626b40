package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/password"
)

// ignoredCount is trackstream_admin_state_records_ignored_total{reason}
// of e's replica.
func ignoredCount(e *env, reason string) float64 {
	var m dto.Metric
	if err := e.srv.m.stateIgnored.WithLabelValues(reason).Write(&m); err != nil {
		e.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// produceRaw writes records to the state topic the way anyone with
// credentials for the broker can, and waits until e's replica has read
// them.
func (e *env) produceRaw(recs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range recs {
		r.Topic = StateTopic
	}
	if err := e.c.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.srv.st.waitFollowed(ctx, recs[len(recs)-1].Offset+1); err != nil {
		e.t.Fatal(err)
	}
}

// The probe's attack: with write access to the topic (but not the state
// key), a session record for admin whose token the attacker chose. It must
// not log anyone in, whether unsigned or signed with another key; each
// refusal is counted and logged without the record's key or token.
func TestForgedStateRecordsLogNobodyIn(t *testing.T) {
	e := newEnv(t)
	const token = "forged-session-token-from-local-kafka-writer"
	d := digest(token)
	now := time.Now().UTC()
	value, _ := json.Marshal(Session{Digest: d, User: AdminUser, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)})

	e.produceRaw(&kgo.Record{Key: []byte(sessionKey + d), Value: value})
	if r := e.call("GET", "/api/v1/users", token, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("an unsigned forged session: %d %s, want 401", r.code, r.raw)
	}

	other := newState(nil, []byte("another-key-another-key-another-key!!"), quiet)
	forged := other.signed(sessionKey+d, value)
	e.produceRaw(forged)
	if r := e.call("GET", "/api/v1/users", token, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("a forged session signed with another key: %d %s, want 401", r.code, r.raw)
	}
	// The same signature over other bytes, and a tombstone of the admin
	// user without a signature, are refused too.
	tampered := e.srv.st.signed(sessionKey+d, value)
	tampered.Value = append([]byte{}, value...)
	tampered.Value[len(tampered.Value)-2] ^= 1
	e.produceRaw(tampered, &kgo.Record{Key: []byte(userKey + AdminUser)})
	if r := e.call("GET", "/api/v1/users", token, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("a tampered session: %d %s, want 401", r.code, r.raw)
	}
	if _, ok := e.srv.st.user(AdminUser); !ok {
		t.Fatal("an unsigned tombstone deleted the admin user")
	}

	if n := ignoredCount(e, (ignoredUnsigned)); n != 2 {
		t.Errorf("unsigned records counted %v, want 2", n)
	}
	if n := ignoredCount(e, (ignoredBadSig)); n != 2 {
		t.Errorf("badly signed records counted %v, want 2", n)
	}
	logs := e.logs.String()
	if strings.Count(logs, "ignoring an admin state record") != 4 {
		t.Errorf("want 4 WARN lines about ignored records, logs:\n%s", logs)
	}
	if strings.Contains(logs, d) || strings.Contains(logs, token) {
		t.Error("a log line carries the forged record's key or token")
	}
	// A signed session is still honoured: the check is not refusing all.
	if r := e.call("GET", "/api/v1/users", e.login(AdminUser, strong), ""); r.code != http.StatusOK {
		t.Fatalf("a real session: %d %s", r.code, r.raw)
	}
}

// A signed record written again after a newer one of its key (a replay by
// someone who read the topic) is refused, by the running replica and by
// one that reads the topic from the start.
func TestReplayedStateRecordsAreRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.login(AdminUser, strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"ann","role":"admin","password":"`+strong+`-x"}`)
	old := readState(t, e.c, userKey+"ann")
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/ann", admin, `{"role":"viewer"}`)

	e.produceRaw(&kgo.Record{Key: old.Key, Value: old.Value, Headers: old.Headers})
	if u, _ := e.srv.st.user("ann"); u.Role != RoleViewer {
		t.Fatalf("a replayed older record made ann %s again", u.Role)
	}
	if n := ignoredCount(e, (ignoredReplayed)); n != 1 {
		t.Errorf("replayed records counted %v, want 1", n)
	}
	fresh := start(t, e.c, testConfig(), nil)
	if u, _ := fresh.srv.st.user("ann"); u.Role != RoleViewer {
		t.Fatalf("a replica reading from the start took the replay: ann is %s", u.Role)
	}
}

// readState returns the newest record of key in the state topic.
func readState(t *testing.T, c *cluster, key string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, c.opts...), kgo.ConsumeTopics(StateTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var found *kgo.Record
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == key {
				found = r
			}
		})
	}
	if found == nil {
		t.Fatalf("no record of %s in %s", key, StateTopic)
	}
	return found
}

// Records written before records were signed are adopted on the start
// that creates the key, signed again, and so still there on the next
// start, while the unsigned originals are deleted from the topic; without
// adoption they are ignored.
func TestUnsignedStateIsAdoptedOnceAndSigned(t *testing.T) {
	c := newCluster(t)
	hash, err := password.Hash(strong+"-ann", password.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	ann, _ := json.Marshal(User{Name: "ann", Role: RoleViewer, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
	gone, _ := json.Marshal(User{Name: "gone", Role: RoleViewer, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
	ctx := context.Background()
	if err := c.cl.ProduceSync(ctx,
		&kgo.Record{Topic: StateTopic, Key: []byte(userKey + "ann"), Value: ann},
		&kgo.Record{Topic: StateTopic, Key: []byte(userKey + "gone"), Value: gone},
		&kgo.Record{Topic: StateTopic, Key: []byte(userKey + "gone")},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	refusing := start(t, c, testConfig(), nil)
	if _, ok := refusing.srv.st.user("ann"); ok {
		t.Fatal("a replica that does not adopt applied an unsigned user")
	}

	c.adoptUnsigned = true
	adopting := start(t, c, testConfig(), nil)
	c.adoptUnsigned = false
	if _, ok := adopting.srv.st.user("gone"); ok {
		t.Fatal("an adopted tombstone did not delete its user")
	}
	adopting.login("ann", strong+"-ann")

	next := start(t, c, testConfig(), nil)
	next.login("ann", strong+"-ann")
	if _, ok := next.srv.st.user("gone"); ok {
		t.Fatal("a deleted user came back after adoption")
	}
	// The records from before signing are gone from the topic: a later
	// start has nothing to warn about.
	if n := ignoredCount(next, ignoredUnsigned); n != 0 {
		t.Fatalf("the start after adoption ignored %v unsigned records, want 0 (deleted)", n)
	}
}
