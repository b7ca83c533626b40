// Package tracker is trackstream's browser tracker, trackstream.js: the
// readable source, its minified form (what browsers get), embedded in the
// binary, with the version that names it in URLs. The collector serves it;
// docs/tracker.md documents it.
//
// trackstream.min.js is generated from trackstream.js by esbuild, pinned in
// tools/go.mod, so no Node.js is needed: run `go generate ./internal/tracker`
// (or `task tracker:build`) after changing the source. A test checks the
// committed file is up to date and within the size budget.
package tracker

//go:generate go tool -modfile=../../tools/go.mod esbuild trackstream.js --minify --target=es2020 --log-level=warning --outfile=trackstream.min.js

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

//go:embed trackstream.min.js
var script []byte

// Script is the minified tracker, as served.
type Script struct {
	// JS is the script; Gzip the same, gzip-compressed.
	JS, Gzip []byte
	// Version names this build of the script: the first 12 hex digits of
	// its SHA-256.
	Version string
}

// Load returns the embedded tracker, compressed once.
func Load() (Script, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return Script{}, err
	}
	if _, err := zw.Write(script); err != nil {
		return Script{}, err
	}
	if err := zw.Close(); err != nil {
		return Script{}, err
	}
	sum := sha256.Sum256(script)
	return Script{JS: script, Gzip: buf.Bytes(), Version: hex.EncodeToString(sum[:6])}, nil
}
