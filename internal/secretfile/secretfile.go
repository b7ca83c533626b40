// Package secretfile reads and creates the small secret files trackstream
// keeps: a generated secret is 32 random bytes written base64url-encoded to
// a new 0600 file, and a secret is read back as the file's text with
// surrounding white space removed.
package secretfile

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinLen is the shortest secret Read accepts, in bytes: 32, enough for an
// HMAC-SHA256 key or a password nobody guesses.
const MinLen = 32

// maxLen bounds what Read loads: a secret file is a line, not a document.
const maxLen = 4096

// Read returns the secret in path (its text, white space trimmed). It fails
// when the file cannot be read, is longer than 4 KiB, or holds fewer than
// MinLen bytes.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLen+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	n := len(b)
	if n > maxLen {
		return nil, fmt.Errorf("%s is longer than %d bytes; a secret file holds one line", path, maxLen)
	}
	secret := []byte(strings.TrimSpace(string(b[:n])))
	if len(secret) < MinLen {
		return nil, fmt.Errorf("%s holds %d bytes, want at least %d (make one with: openssl rand -base64 48 > %s)", path, len(secret), MinLen, path)
	}
	return secret, nil
}

// LoadOrCreate returns the secret in path, first creating the file (mode
// 0600, in an existing or new 0700 directory) with a generated secret when
// it does not exist. created reports whether it did.
func LoadOrCreate(path string) (secret []byte, created bool, err error) {
	secret, err = Read(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create directory of %s: %w", path, err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	text := base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("close %s: %w", path, err)
	}
	return []byte(text), true, nil
}
