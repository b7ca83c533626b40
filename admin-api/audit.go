package adminapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// auditRingSize is how many audit entries a replica keeps for
// GET /api/v1/audit; older ones are only in the log.
const auditRingSize = 1000

// auditPathBytes bounds the path kept per entry, so the ring's memory is
// bounded whatever the URLs.
const auditPathBytes = 256

const (
	defaultAuditPage = 100
	maxAuditPage     = 500
)

// auditEntry is one audit log line as GET /api/v1/audit answers it.
type auditEntry struct {
	// Seq numbers the entries of this replica since it started, from 1.
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Via     string    `json:"via"`
	Action  string    `json:"action"`
	Path    string    `json:"path"`
	Client  string    `json:"client"`
	Outcome string    `json:"outcome"`
}

// auditRing keeps the newest audit entries of this replica in memory. It
// is not shared between replicas and does not survive a restart: the
// "admin audit" log lines are the durable record.
type auditRing struct {
	mu      sync.Mutex
	entries []auditEntry // entry seq is at index (seq-1) % len
	last    uint64       // seq of the newest entry; 0 when empty
}

func newAuditRing(size int) *auditRing {
	return &auditRing{entries: make([]auditEntry, size)}
}

func (a *auditRing) add(e auditEntry) {
	if len(e.Path) > auditPathBytes {
		e.Path = e.Path[:auditPathBytes] + "..."
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last++
	e.Seq = a.last
	a.entries[(e.Seq-1)%uint64(len(a.entries))] = e
}

// page returns up to limit entries older than before (0: from the newest),
// newest first, and whether older entries remain.
func (a *auditRing) page(before uint64, limit int) ([]auditEntry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	oldest := uint64(1)
	if a.last > uint64(len(a.entries)) {
		oldest = a.last - uint64(len(a.entries)) + 1
	}
	seq := a.last
	if before != 0 && before-1 < seq {
		seq = before - 1
	}
	out := []auditEntry{}
	for ; seq >= oldest && len(out) < limit; seq-- {
		out = append(out, a.entries[(seq-1)%uint64(len(a.entries))])
	}
	return out, seq >= oldest
}

// listAudit answers the newest audit entries of this replica, newest
// first; pages continue with cursor=next_cursor.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := r.URL.Query()
	limit := defaultAuditPage
	if l := q.Get("limit"); l != "" {
		var err error
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > maxAuditPage {
			return badRequest("invalid_parameter", "limit must be 1-%d", maxAuditPage)
		}
	}
	var before uint64
	if c := q.Get("cursor"); c != "" {
		var err error
		if before, err = strconv.ParseUint(c, 10, 64); err != nil || before == 0 {
			return badRequest("invalid_parameter", "cursor is not one this API returned")
		}
	}
	entries, more := s.audits.page(before, limit)
	resp := map[string]any{"entries": entries, "next_cursor": nil}
	if more {
		resp["next_cursor"] = strconv.FormatUint(entries[len(entries)-1].Seq, 10)
	}
	return writeJSON(w, http.StatusOK, resp)
}
