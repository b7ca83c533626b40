package harness

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// TestTimeQueryCountsRealtimeValues checks what S7 records of a realtime
// answer for flatVerdict: its visitors plus its sessions, read from the
// real admin API over events stored a few minutes ago (three visitors,
// four sessions), and nothing for the other classes. Mutations tried:
// reading sessions from a misspelt key (Distinct stayed nil) and visitors
// only (3, not 7) each failed it.
func TestTimeQueryCountsRealtimeValues(t *testing.T) {
	ctx := context.Background()
	lib := testkit.CHDBLib(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenEmbedded(ctx, lib, t.TempDir(), quiet, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	var rows []store.Row
	for i, v := range []struct{ visitor, session string }{{"v1", "s1"}, {"v1", "s2"}, {"v2", "s3"}, {"v3", "s4"}, {"v3", "s4"}} {
		at := now.Add(-time.Duration(3-i%3) * time.Minute)
		rows = append(rows, store.Row{
			Event:  event.Event{SourceID: "rt", ID: "e" + strconv.Itoa(i), Type: "page", Time: at, ReceivedAt: at, SessionID: v.session, AnonymousID: v.visitor, Properties: json.RawMessage(`{}`)},
			Fields: enrich.Fields{URLPath: "/"},
		})
	}
	if err := st.InsertRows(ctx, "realtime-distinct", rows); err != nil {
		t.Fatal(err)
	}
	adm := startAdminAPI(t, st, now)
	pid := os.Getpid()
	var answer struct{ Visitors, Sessions uint64 }
	if err := adm.Call(ctx, http.MethodGet, "/api/v1/stats/realtime?minutes=60", nil, &answer); err != nil {
		t.Fatal(err)
	}
	got := timeQuery(ctx, adm, QueryCase{"realtime, last 60 minutes", "realtime", "/api/v1/stats/realtime?minutes=60"}, 1, pid)
	if got.Err != "" || got.Distinct == nil || *got.Distinct != 7 || answer.Visitors != 3 || answer.Sessions != 4 {
		t.Errorf("realtime: recorded %v (error %q), answer %+v; want 7 = 3 visitors + 4 sessions", got.Distinct, got.Err, answer)
	}
	summary := timeQuery(ctx, adm, QueryCase{"summary", "summary", "/api/v1/stats/summary?from=" + now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Format(time.RFC3339)}, 1, pid)
	if summary.Err != "" || summary.Distinct != nil {
		t.Errorf("summary: recorded %v (error %q); want nothing", summary.Distinct, summary.Err)
	}
}
