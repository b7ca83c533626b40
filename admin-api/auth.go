package adminapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/trackstream/trackstream/internal/password"
)

// AdminUser is the name of the built-in administrator.
const AdminUser = "admin"

// passwordFile holds the admin password's argon2id hash under the data dir.
const passwordFile = "admin-password.argon2id"

// AdminPasswordHash returns the admin password hash to log in against.
// A configured password is checked against the policy, hashed and stored;
// with none configured the stored hash is used, or on first start a strong
// password is generated, printed once to out, and only its hash stored.
func AdminPasswordHash(dataDir, configured string, out io.Writer) (string, error) {
	path := filepath.Join(dataDir, passwordFile)
	if configured != "" {
		if err := password.Check(AdminUser, configured); err != nil {
			return "", fmt.Errorf("TRACKSTREAM_ADMIN_PASSWORD refused: %w", err)
		}
		if stored, err := os.ReadFile(path); err == nil {
			if ok, _ := password.Verify(configured, strings.TrimSpace(string(stored))); ok {
				return strings.TrimSpace(string(stored)), nil
			}
		}
		return storeHash(path, configured)
	}
	if stored, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(stored)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin password hash %s: %w", path, err)
	}
	generated := password.Generate()
	hash, err := storeHash(path, generated)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "\nGenerated admin password (shown once, only its hash is stored in %s):\n\n    %s\n\nSet TRACKSTREAM_ADMIN_PASSWORD to choose your own.\n\n", path, generated)
	return hash, nil
}

func storeHash(path, pw string) (string, error) {
	hash, err := password.Hash(pw, password.DefaultParams())
	if err != nil {
		return "", fmt.Errorf("hash admin password: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("create data dir for the admin password hash: %w", err)
	}
	if err := os.WriteFile(path, []byte(hash+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store admin password hash in %s: %w", path, err)
	}
	return hash, nil
}

// sessions are login tokens, kept only as SHA-256 digests.
type sessions struct {
	mu   sync.Mutex
	ttl  time.Duration
	byID map[[32]byte]session
}

type session struct {
	user    string
	expires time.Time
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, byID: map[[32]byte]session{}}
}

// issue returns a new random token (256 bits) for user.
func (s *sessions) issue(user string, now time.Time) string {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.byID { // drop expired sessions so the map stays bounded by live ones
		if now.After(v.expires) {
			delete(s.byID, k)
		}
	}
	s.byID[sha256.Sum256([]byte(token))] = session{user: user, expires: now.Add(s.ttl)}
	return token
}

// lookup returns the user of a live token.
func (s *sessions) lookup(token string, now time.Time) (string, bool) {
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[key]
	if !ok {
		return "", false
	}
	if now.After(v.expires) {
		delete(s.byID, key)
		return "", false
	}
	return v.user, true
}
