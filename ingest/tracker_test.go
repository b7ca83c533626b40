package ingest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/tracker"
)

// TestTrackerServed: the script, gzip-compressed for clients that take
// it, cached for an hour under its plain URL and for a year (immutable)
// under its versioned one, revalidated by ETag, and served under an alias.
func TestTrackerServed(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(c *config.Ingest) { c.PathAliases = []string{"/js/site.js=/ts.js"} })
	script, err := tracker.Load()
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + script.Version + `"`
	for _, tc := range []struct {
		name, path, acceptEncoding, ifNoneMatch string
		status                                  int
		gzipped                                 bool
		cache                                   string
	}{
		{"plain URL, gzip", "/ts.js", "gzip, deflate, br", "", 200, true, "public, max-age=3600"},
		{"plain URL, identity", "/ts.js", "identity", "", 200, false, "public, max-age=3600"},
		{"gzip refused", "/ts.js", "gzip;q=0, br", "", 200, false, "public, max-age=3600"},
		{"versioned URL", "/ts.js?v=" + script.Version, "gzip", "", 200, true, "public, max-age=31536000, immutable"},
		{"an older version", "/ts.js?v=000000000000", "gzip", "", 200, true, "public, max-age=3600"},
		{"alias", "/js/site.js", "gzip", "", 200, true, "public, max-age=3600"},
		{"revalidation", "/ts.js?v=" + script.Version, "gzip", etag, 304, false, "public, max-age=31536000, immutable"},
		{"changed since", "/ts.js", "", `"0123456789ab"`, 200, false, "public, max-age=3600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, env.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Set by hand so the client does not decompress.
			req.Header.Set("Accept-Encoding", tc.acceptEncoding)
			if tc.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			r := env.do(t, req)
			h := r.header
			if r.status != tc.status || h.Get("ETag") != etag || h.Get("Cache-Control") != tc.cache || h.Get("Content-Location") != "/ts.js?v="+script.Version {
				t.Fatalf("status %d ETag %q Cache-Control %q Content-Location %q, want %d %q %q /ts.js?v=%s", r.status, h.Get("ETag"), h.Get("Cache-Control"), h.Get("Content-Location"), tc.status, etag, tc.cache, script.Version)
			}
			if tc.status == 304 {
				if len(r.body) != 0 {
					t.Fatalf("304 with a body of %d bytes", len(r.body))
				}
				return
			}
			if h.Get("Content-Type") != "text/javascript; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("headers %v", h)
			}
			body := r.body
			if tc.gzipped {
				if h.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding %q, want gzip", h.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			} else if h.Get("Content-Encoding") != "" {
				t.Fatalf("Content-Encoding %q, want none", h.Get("Content-Encoding"))
			}
			if !bytes.Equal(body, script.JS) {
				t.Fatalf("body of %d bytes is not the tracker (%d bytes)", len(body), len(script.JS))
			}
		})
	}
}
