package adminapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStateApply(t *testing.T) {
	s := newState(nil, testStateKey, quiet)
	user := func(role Role) []byte {
		b, _ := json.Marshal(User{Name: "ann", Role: role})
		return b
	}
	// A local write at offset 5, then the follower reads older records:
	// they must not roll the user back.
	s.apply(userKey+"ann", user(RoleAdmin), 1, 5, false)
	s.apply(userKey+"ann", user(RoleViewer), 1, 3, true)
	if u, _ := s.user("ann"); u.Role != RoleAdmin {
		t.Fatal("an older record rolled back a newer write")
	}
	s.apply(userKey+"ann", user(RoleAdmin), 1, 5, true)
	s.apply(userKey+"ann", user(RoleViewer), 1, 6, true)
	if u, _ := s.user("ann"); u.Role != RoleViewer {
		t.Fatal("a newer record was not applied")
	}
	// Malformed records are skipped, never applied half.
	for _, bad := range [][]byte{[]byte(`{`), []byte(`{"name":"ann","role":"root"}`), []byte(`{"name":"bob","role":"admin"}`)} {
		s.apply(userKey+"ann", bad, 1, 7, true)
	}
	s.apply("bogus/x", []byte(`{}`), 1, 8, true)
	if u, ok := s.user("ann"); !ok || u.Role != RoleViewer {
		t.Fatalf("a malformed record changed the user: %+v", u)
	}
	// A local tombstone read back by the follower leaves no bookkeeping.
	ss, _ := json.Marshal(Session{Digest: "d1", User: "ann", LastSeen: time.Unix(100, 0)})
	s.apply(sessionKey+"d1", ss, 1, 10, true)
	s.apply(sessionKey+"d1", nil, 1, 11, false)
	s.apply(sessionKey+"d1", nil, 1, 11, true)
	if _, ok := s.session("d1"); ok {
		t.Fatal("deleted session still there")
	}
	if _, ok := s.applied[sessionKey+"d1"]; ok {
		t.Fatal("bookkeeping of a deleted key kept forever")
	}
	// A local touch newer than Kafka's copy survives reading the copy.
	ss2, _ := json.Marshal(Session{Digest: "d2", User: "ann", LastSeen: time.Unix(100, 0)})
	s.apply(sessionKey+"d2", ss2, 1, 12, true)
	s.touch("d2", time.Unix(500, 0), time.Minute)
	s.apply(sessionKey+"d2", ss2, 1, 13, true)
	if got, _ := s.session("d2"); !got.LastSeen.Equal(time.Unix(500, 0)) {
		t.Fatalf("last use rolled back to %s", got.LastSeen)
	}
}
