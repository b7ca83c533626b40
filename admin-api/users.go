package adminapi

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// userView is a user as the API shows it: never the hash.
type userView struct {
	Name              string    `json:"name"`
	Role              Role      `json:"role"`
	Disabled          bool      `json:"disabled"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func viewUser(u User) userView {
	return userView{u.Name, u.Role, u.Disabled, u.PasswordChangedAt, u.CreatedAt, u.UpdatedAt}
}

// userNamePattern is what a user name may be.
var userNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

func (s *Server) listUsers(w http.ResponseWriter, _ *http.Request, _ principal) error {
	users := s.st.userList()
	out := make([]userView, len(users))
	for i, u := range users {
		out[i] = viewUser(u)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

type createUserRequest struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Password string `json:"password"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, _ principal) error {
	var req createUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !userNamePattern.MatchString(req.Name) {
		return badRequest("invalid_field", "name must be 2-64 of a-z 0-9 . _ -, starting with a letter or digit")
	}
	if !req.Role.valid() {
		return badRequest("invalid_field", "role must be viewer or admin")
	}
	if _, exists := s.st.user(req.Name); exists {
		return errorf(http.StatusConflict, "exists", "user %s exists", req.Name)
	}
	now := s.now().UTC()
	u := User{Name: req.Name, Role: req.Role, CreatedAt: now}
	if err := s.setPassword(r.Context(), u, req.Password); err != nil {
		return err
	}
	u, _ = s.st.user(req.Name)
	return writeJSON(w, http.StatusCreated, viewUser(u))
}

type updateUserRequest struct {
	Role     *Role `json:"role"`
	Disabled *bool `json:"disabled"`
}

// updateUser changes a user's role or disables/enables them. The last
// enabled admin cannot be disabled or demoted, so the API never locks
// itself out.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, _ principal) error {
	u, ok := s.st.user(r.PathValue("name"))
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "no user %q", r.PathValue("name"))
	}
	var req updateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Role != nil {
		if !req.Role.valid() {
			return badRequest("invalid_field", "role must be viewer or admin")
		}
		u.Role = *req.Role
	}
	if req.Disabled != nil {
		u.Disabled = *req.Disabled
	}
	u.UpdatedAt = s.now().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := s.guardAdmins(ctx, u); err != nil {
		return err
	}
	if u.Disabled {
		s.endSessions(ctx, u.Name)
		if err := s.revokeTokensOf(ctx, u.Name); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, viewUser(u))
}

// guardAdmins stores u unless that leaves no enabled admin. The check
// is serialised through the state topic's single partition: changes of
// this replica take a lock, and a change that removes an admin is checked
// again once every record before it (from any replica) has been read
// back. If the state at that point of the log has no enabled admin, the
// change is undone (its user's previous record written back) and refused:
// of two concurrent changes that together would remove the last admin,
// the later one in the log yields.
func (s *Server) guardAdmins(ctx context.Context, u User) error {
	s.st.roles.Lock()
	defer s.st.roles.Unlock()
	lastAdmin := errorf(http.StatusConflict, "last_admin", "%s is the last enabled admin; create another admin first", u.Name)
	prev, _ := s.st.user(u.Name)
	removes := prev.Role == RoleAdmin && !prev.Disabled && (u.Role != RoleAdmin || u.Disabled)
	if removes && s.st.enabledAdmins() <= 1 {
		return lastAdmin
	}
	offset, err := s.st.putAt(ctx, userKey+u.Name, u)
	if err != nil {
		s.log.Error("storing user failed", "error", err)
		return errKafka
	}
	if !removes {
		return nil
	}
	answer := lastAdmin
	if err := s.st.waitFollowed(ctx, offset); err != nil {
		s.log.Error("checking the last-admin guard failed; undoing the change", "user", u.Name, "error", err)
		answer = errKafka
	} else if s.st.enabledAdmins() > 0 {
		return nil
	}
	undo, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if _, err := s.st.putAt(undo, userKey+u.Name, prev); err != nil {
		s.log.Error("undoing a change that removed the last admin failed; restart admin-api with TRACKSTREAM_ADMIN_PASSWORD to restore the admin", "user", u.Name, "error", err)
	}
	return answer
}

type setPasswordRequest struct {
	Password string `json:"password"`
}

// setUserPassword sets another user's password (admin only) and ends their
// sessions.
func (s *Server) setUserPassword(w http.ResponseWriter, r *http.Request, _ principal) error {
	u, ok := s.st.user(r.PathValue("name"))
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "no user %q", r.PathValue("name"))
	}
	var req setPasswordRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.setPassword(r.Context(), u, req.Password); err != nil {
		return err
	}
	if err := s.revokeTokensOf(r.Context(), u.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeTokensOf revokes every API token user owns: an admin resetting a
// user's password or disabling them treats the account as compromised, so
// its tokens end too (and do not come back when the user is enabled).
func (s *Server) revokeTokensOf(ctx context.Context, user string) error {
	revoked := map[string]any{}
	for _, t := range s.st.tokenList() {
		if t.Owner == user && !t.Revoked {
			t.Revoked = true
			revoked[tokenKey+t.ID] = t
		}
	}
	if len(revoked) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := s.st.putMany(ctx, revoked); err != nil {
		s.log.Error("revoking the API tokens of a user failed", "user", user, "error", err)
		return errKafka
	}
	return nil
}

// tokenView is an API token as the API shows it: never the secret or its
// digest.
type tokenView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Owner     string     `json:"owner"`
	Scope     Role       `json:"scope"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	Revoked   bool       `json:"revoked"`
	Token     string     `json:"token,omitempty"`
}

func viewToken(t APIToken) tokenView {
	v := tokenView{ID: t.ID, Name: t.Name, Owner: t.Owner, Scope: t.Scope, CreatedAt: t.CreatedAt, Revoked: t.Revoked}
	if !t.ExpiresAt.IsZero() {
		v.ExpiresAt = &t.ExpiresAt
	}
	return v
}

func (s *Server) listTokens(w http.ResponseWriter, _ *http.Request, _ principal) error {
	tokens := s.st.tokenList()
	out := make([]tokenView, len(tokens))
	for i, t := range tokens {
		out[i] = viewToken(t)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

type createTokenRequest struct {
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	ExpiresIn string `json:"expires_in"`
}

// maxTokens bounds the number of API tokens kept.
const maxTokens = 1000

// defaultTokenLifetime is an API token's lifetime when expires_in is not
// given.
const defaultTokenLifetime = 90 * 24 * time.Hour

// createToken makes an API token owned by the caller; the secret is in the
// answer once and only its digest is stored.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p principal) error {
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || utf8.RuneCountInString(req.Name) > 200 {
		return badRequest("invalid_field", "name is required, at most 200 characters")
	}
	scope := map[string]Role{"read": RoleViewer, "admin": RoleAdmin}[req.Scope]
	if scope == "" {
		return badRequest("invalid_field", "scope must be read or admin")
	}
	now := s.now().UTC()
	t := APIToken{ID: "tok_" + newSecret("")[:16], Name: req.Name, Owner: p.user, Scope: scope, CreatedAt: now, ExpiresAt: now.Add(defaultTokenLifetime)}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > 5*365*24*time.Hour {
			return badRequest("invalid_field", "expires_in must be a positive duration such as 720h, at most 5 years")
		}
		t.ExpiresAt = now.Add(d)
	}
	if len(s.st.tokenList()) >= maxTokens {
		return errorf(http.StatusConflict, "too_many_tokens", "%d API tokens exist; revoke unused ones first", maxTokens)
	}
	secret := newSecret(apiTokenPrefix)
	t.Digest = digest(secret)
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := s.st.put(ctx, tokenKey+t.ID, t); err != nil {
		s.log.Error("storing API token failed", "error", err)
		return errKafka
	}
	v := viewToken(t)
	v.Token = secret
	return writeJSON(w, http.StatusCreated, v)
}

// revokeToken marks a token revoked; it stays listed so its use can be
// audited.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ principal) error {
	t, ok := s.st.token(r.PathValue("id"))
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "no API token %q", r.PathValue("id"))
	}
	t.Revoked = true
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if err := s.st.put(ctx, tokenKey+t.ID, t); err != nil {
		s.log.Error("revoking API token failed", "error", err)
		return errKafka
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
