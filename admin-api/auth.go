package adminapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/password"
)

// AdminUser is the name of the built-in administrator.
const AdminUser = "admin"

// passwordFile holds the admin password's argon2id hash under the data dir.
const passwordFile = "admin-password.argon2id"

// Limits on the admin state.
const (
	// maxSessionsPerUser bounds live sessions; a new login beyond it ends
	// the user's oldest session.
	maxSessionsPerUser = 20
	// keepReplayMarks is how long a replay mark is kept: longer than the
	// dead-letter topic's retention (7 days).
	keepReplayMarks = 8 * 24 * time.Hour
)

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

// Bootstrap makes sure the built-in admin user exists once the admin state
// is loaded (Run must be running). When the state topic has no admin yet,
// its hash comes from AdminPasswordHash (configured, stored in dataDir, or
// generated and printed to out). A configured password is also the
// recovery path: it makes the built-in admin an enabled admin again if it
// was demoted or disabled, and, when it differs from the admin's current
// password, replaces it and ends the admin's sessions. Records adopted from
// before records were signed (Deps.AdoptUnsigned) are signed again first.
func (s *Server) Bootstrap(ctx context.Context, dataDir, configured string, out io.Writer) error {
	if err := s.st.waitLoaded(ctx); err != nil {
		return err
	}
	if err := s.st.resignAdopted(ctx); err != nil {
		return err
	}
	u, exists := s.st.user(AdminUser)
	if exists && configured == "" {
		return nil
	}
	now := s.now().UTC()
	samePassword := false
	if exists {
		samePassword, _ = password.Verify(configured, u.PasswordHash)
		if samePassword && u.Role == RoleAdmin && !u.Disabled {
			return nil
		}
		if u.Role != RoleAdmin || u.Disabled {
			s.log.Warn("TRACKSTREAM_ADMIN_PASSWORD is set: making the built-in admin an enabled admin again", "user", AdminUser, "role_was", u.Role, "disabled_was", u.Disabled)
		}
	} else {
		u = User{Name: AdminUser, CreatedAt: now}
	}
	if !samePassword {
		hash, err := AdminPasswordHash(dataDir, configured, out)
		if err != nil {
			return err
		}
		u.PasswordHash, u.PasswordChangedAt = hash, now
	}
	u.Role, u.Disabled, u.UpdatedAt = RoleAdmin, false, now
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return s.st.put(wctx, userKey+AdminUser, u)
}

// principal is an authenticated caller.
type principal struct {
	user  string
	role  Role
	token string // API token id, when authenticated by one
	// session is the session's digest, when authenticated by a login.
	session string
	// cookieToken is the session secret when it came in the GUI's session
	// cookie rather than an Authorization header (see session_cookie.go).
	cookieToken string
}

func digest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}

// newSecret returns prefix and 256 random bits, base64url.
func newSecret(prefix string) string {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(raw[:])
}

// apiTokenPrefix marks API tokens, so secret scanners can find leaked ones.
const apiTokenPrefix = "tsk_"

// authenticate resolves the bearer token to a live session or API token of
// an enabled user.
func (s *Server) authenticate(r *http.Request) (principal, bool) {
	if r.Header.Get("Authorization") == "" {
		token, ok := s.sessionFromCookie(r)
		if !ok || strings.HasPrefix(token, apiTokenPrefix) {
			return principal{}, false
		}
		p, ok := s.authenticateSecret(token)
		p.cookieToken = token
		return p, ok
	}
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if secret = strings.TrimSpace(secret); !strings.EqualFold(scheme, "Bearer") || secret == "" || len(secret) > 256 {
		return principal{}, false
	}
	return s.authenticateSecret(secret)
}

// authenticateSecret resolves a bearer secret: an API token or a session.
func (s *Server) authenticateSecret(secret string) (principal, bool) {
	now := s.now()
	d := digest(secret)
	if strings.HasPrefix(secret, apiTokenPrefix) {
		t, ok := s.st.tokenByDigest(d)
		if !ok || t.Revoked || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
			return principal{}, false
		}
		u, ok := s.st.user(t.Owner)
		if !ok || u.Disabled {
			return principal{}, false
		}
		role := t.Scope
		if u.Role == RoleViewer { // a token never does more than its owner
			role = RoleViewer
		}
		return principal{user: u.Name, role: role, token: t.ID}, true
	}
	ss, ok := s.st.session(d)
	if !ok {
		return principal{}, false
	}
	u, ok := s.st.user(ss.User)
	if !ok || u.Disabled || !now.Before(ss.ExpiresAt) || now.Sub(ss.LastSeen) > s.cfg.SessionIdleTTL || ss.CreatedAt.Before(u.PasswordChangedAt) {
		return principal{}, false
	}
	if ss, stale := s.st.touch(d, now, min(s.cfg.SessionIdleTTL/4, time.Minute)); stale {
		s.publishTouch(ss)
	}
	return principal{user: u.Name, role: u.Role, session: d}, true
}

// publishTouch refreshes a session's last use in Kafka without holding up
// the request; a lost touch only shortens the idle window on other
// replicas.
func (s *Server) publishTouch(ss Session) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		if err := s.st.put(ctx, sessionKey+ss.Digest, ss); err != nil {
			s.log.Warn("recording session use failed", "error", err)
		}
	}()
}

// throttleKey is the client's network for login throttling: the address,
// or its /64 for IPv6, where one host usually holds a whole /64.
func throttleKey(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// accountKey is the throttle key of a user name, known or not, tried from
// a client network: a digest, so a long made-up name costs no more memory
// than a short one. Failures are counted per account and client network,
// so one client's failures never lock an account for the others.
func accountKey(name, client string) string {
	return "user:" + digest(strings.ToLower(name)+"\x00"+client)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Cookie asks for the session in an HttpOnly cookie instead of the
	// answer's body (the GUI's login).
	Cookie bool `json:"cookie"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ principal) error {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	now := s.now()
	client := "ip:" + throttleKey(clientIPFrom(r.Context()))
	account := accountKey(req.Username, client)
	// The attempt counts (as a failure) before the password check, so
	// concurrent attempts cannot all pass the throttle.
	wait := s.accounts.attempt(account, now)
	if wait == 0 {
		if wait = s.clients.attempt(client, now); wait > 0 {
			s.accounts.forgive(account)
		}
	}
	if wait > 0 {
		s.m.logins.WithLabelValues("throttled").Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_attempts",
			Message: "too many failed logins; wait " + strconv.Itoa(secs) + "s before trying again", retryAfter: secs}
	}
	u, known := s.st.user(req.Username)
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, err := s.pw.verify(r.Context(), req.Password, hash)
	if err != nil {
		s.accounts.forgive(account)
		s.clients.forgive(client)
		if err == errLoginBusy {
			s.m.logins.WithLabelValues("busy").Inc()
		}
		return err
	}
	if !ok || !known || u.Disabled {
		s.m.logins.WithLabelValues("failed").Inc()
		s.log.Warn("failed admin login", "client", clientIPFrom(r.Context()).String())
		return errorf(http.StatusUnauthorized, "invalid_credentials", "wrong username or password")
	}
	s.accounts.succeed(account)
	s.clients.forgive(client)
	token, err := s.issueSession(r.Context(), u.Name, now)
	if err != nil {
		return err
	}
	s.m.logins.WithLabelValues("ok").Inc()
	s.log.Info("admin login", "user", u.Name, "client", clientIPFrom(r.Context()).String())
	out := map[string]any{
		"token": token, "expires_in": int(s.cfg.SessionTTL.Seconds()),
		"idle_timeout": int(s.cfg.SessionIdleTTL.Seconds()), "user": u.Name, "role": u.Role,
	}
	if req.Cookie {
		s.setSessionCookie(w, token, s.cfg.SessionTTL)
		delete(out, "token")
		out["csrf_token"] = csrfToken(token)
	}
	return writeJSON(w, http.StatusOK, out)
}

// issueSession stores a new session for user and returns its token; the
// user's oldest sessions end beyond maxSessionsPerUser.
func (s *Server) issueSession(ctx context.Context, user string, now time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if live := s.st.sessionsOf(user); len(live) >= maxSessionsPerUser {
		for _, old := range live[:len(live)-maxSessionsPerUser+1] {
			if err := s.st.del(ctx, sessionKey+old.Digest); err != nil {
				s.log.Error("ending oldest session failed", "error", err)
				return "", errKafka
			}
		}
	}
	token := newSecret("")
	now = now.UTC()
	ss := Session{Digest: digest(token), User: user, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.st.put(ctx, sessionKey+ss.Digest, ss); err != nil {
		s.log.Error("storing session failed", "error", err)
		return "", errKafka
	}
	return token, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p principal) error {
	if p.session == "" {
		return badRequest("not_a_session", "an API token is revoked with DELETE /api/v1/tokens/{id}, not logged out")
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := s.st.del(ctx, sessionKey+p.session); err != nil {
		s.log.Error("logout failed", "error", err)
		return errKafka
	}
	if p.cookieToken != "" {
		s.clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, _ *http.Request, p principal) error {
	out := map[string]any{"user": p.user, "role": p.role}
	if p.token != "" {
		out["token_id"] = p.token
	}
	if p.cookieToken != "" {
		out["csrf_token"] = csrfToken(p.cookieToken)
	}
	return writeJSON(w, http.StatusOK, out)
}

type changePasswordRequest struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// changeOwnPassword lets any logged-in user change their password with the
// current one; every session of the user ends, this one included.
func (s *Server) changeOwnPassword(w http.ResponseWriter, r *http.Request, p principal) error {
	if p.session == "" {
		return errorf(http.StatusForbidden, "not_a_session", "log in with a password to change it; API tokens cannot")
	}
	var req changePasswordRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, ok := s.st.user(p.user)
	if !ok {
		return errUnauthorized
	}
	now := s.now()
	account := accountKey(p.user, "ip:"+throttleKey(clientIPFrom(r.Context())))
	if wait := s.accounts.attempt(account, now); wait > 0 {
		return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_attempts", Message: "too many failed attempts; wait before trying again", retryAfter: int(wait/time.Second) + 1}
	}
	if ok, err := s.pw.verify(r.Context(), req.Current, u.PasswordHash); err != nil {
		s.accounts.forgive(account)
		return err
	} else if !ok {
		return errorf(http.StatusForbidden, "invalid_credentials", "current_password is wrong")
	}
	s.accounts.succeed(account)
	if err := s.setPassword(r.Context(), u, req.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setPassword checks pw against the policy, stores its hash and ends every
// session of u (their creation predates PasswordChangedAt; the sessions are
// also deleted from the state topic).
func (s *Server) setPassword(ctx context.Context, u User, pw string) error {
	if err := password.Check(u.Name, pw); err != nil {
		var weak *password.WeakError
		if errors.As(err, &weak) {
			return badRequest("weak_password", "password %s", weak.Reason)
		}
		return err
	}
	hash, err := password.Hash(pw, password.DefaultParams())
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	now := s.now().UTC()
	u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
	if err := s.st.put(ctx, userKey+u.Name, u); err != nil {
		s.log.Error("storing password failed", "error", err)
		return errKafka
	}
	s.endSessions(ctx, u.Name)
	return nil
}

// endSessions deletes the sessions of user from the state topic. They are
// already refused (PasswordChangedAt or Disabled); this only tidies up, and
// the sweeper finishes what fails here.
func (s *Server) endSessions(ctx context.Context, user string) {
	for _, ss := range s.st.sessionsOf(user) {
		if err := s.st.del(ctx, sessionKey+ss.Digest); err != nil {
			s.log.Warn("deleting a revoked session failed; the sweeper retries", "error", err)
			return
		}
	}
}
