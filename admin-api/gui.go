package adminapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The GUI is a set of static files embedded in the binary (web/), served
// on the admin listener only, under /ui/. It is a client of this API like
// any other: it logs in with the session cookie (session_cookie.go) and
// reads /api/v1. Every path under /ui/ without a file extension answers
// index.html, so a screen's URL (/ui/events?type=page) can be reloaded and
// shared.

//go:embed web
var webFiles embed.FS

// guiCSP is the GUI's Content-Security-Policy: scripts, styles and
// requests only from this origin, no inline script or style, no plugins,
// no framing, no base or form tricks. Event data the GUI shows cannot
// load anything from elsewhere even if it were rendered as markup.
const guiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// guiFile is one embedded file, with its gzip form.
type guiFile struct {
	body, gz    []byte
	contentType string
	etag        string
}

// guiAssets are the GUI's files by path below web/.
type guiAssets map[string]*guiFile

func loadGUI() (guiAssets, error) {
	out := guiAssets{}
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := webFiles.ReadFile(p)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		if _, err := zw.Write(body); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "web/")] = &guiFile{body: body, gz: gz.Bytes(), contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load embedded GUI: %w", err)
	}
	if out["index.html"] == nil {
		return nil, fmt.Errorf("load embedded GUI: web/index.html is missing")
	}
	return out, nil
}

// GzipSize is the total size of the GUI's files as served gzip-compressed.
func (a guiAssets) GzipSize() int {
	n := 0
	for _, f := range a {
		n += len(f.gz)
	}
	return n
}

// serveGUI answers GET /ui/...: a file, or index.html for a screen's path.
func (a guiAssets) serveGUI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/ui")
	name = strings.TrimPrefix(name, "/")
	f := a[name]
	if f == nil {
		if name != "" && strings.Contains(path.Base(name), ".") {
			writeError(w, errorf(http.StatusNotFound, "not_found", "no GUI file %q", clip(name)))
			return
		}
		f = a["index.html"]
	}
	h := w.Header()
	h.Set("Content-Security-Policy", guiCSP)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Add("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// register adds the GUI to mux: /ui/ and a redirect from /.
func (a guiAssets) register(mux *http.ServeMux, wrap func(string, http.Handler) http.Handler) {
	mux.Handle("GET /ui/", wrap("GET /ui/", http.HandlerFunc(a.serveGUI)))
	mux.Handle("GET /{$}", wrap("GET /", http.RedirectHandler("/ui/", http.StatusFound)))
}
