package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"time"
)

// The GUI keeps its login in a cookie that page scripts cannot read
// (HttpOnly), that browsers send only on requests from the API's own site
// (SameSite=Strict) and, under TLS, only over TLS (Secure, with the
// __Host- prefix so no subdomain can set it). Automation keeps using
// Authorization: Bearer; a request that carries that header is judged by it
// alone.
//
// A state-changing request authenticated by the cookie must also carry
// X-CSRF-Token: a value derived from the session secret, which the login
// answer and /auth/me hand to the page. Another site can neither read it
// nor make a browser add the header; an Origin header, when present, must
// be the API's own (the access layer refuses foreign ones).

// sessionCookieName is the cookie's name; __Host- needs Secure, so plain
// HTTP (loopback) uses the bare name.
func (s *Server) sessionCookieName() string {
	if s.TLS() {
		return "__Host-trackstream_session"
	}
	return "trackstream_session"
}

// csrfHeader carries the CSRF token of a cookie session.
const csrfHeader = "X-CSRF-Token"

// csrfToken is the CSRF token of the session whose secret is token: a
// digest under its own label, so it reveals nothing of the session.
func csrfToken(token string) string {
	d := sha256.Sum256([]byte("trackstream csrf\x00" + token))
	return hex.EncodeToString(d[:])
}

// setSessionCookie hands the browser the session token, for ttl.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookieName(), Value: token, Path: "/",
		MaxAge: int(ttl / time.Second), HttpOnly: true, Secure: s.TLS(), SameSite: http.SameSiteStrictMode,
	})
}

// clearSessionCookie makes the browser drop the session cookie.
func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookieName(), Value: "", Path: "/",
		MaxAge: -1, HttpOnly: true, Secure: s.TLS(), SameSite: http.SameSiteStrictMode,
	})
}

// sessionFromCookie returns the session secret of the request's cookie,
// when there is one of a plausible size.
func (s *Server) sessionFromCookie(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil || c.Value == "" || len(c.Value) > 256 {
		return "", false
	}
	return c.Value, true
}

// errCSRF answers a cookie-authenticated change without the CSRF token.
var errCSRF = errorf(http.StatusForbidden, "csrf", "a change made with the session cookie needs the X-CSRF-Token header from the login answer or GET /api/v1/auth/me")

// checkCSRF refuses a state-changing request authenticated by the cookie
// unless it carries the session's CSRF token.
func checkCSRF(r *http.Request, p principal) *apiError {
	if p.cookieToken == "" || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	got := r.Header.Get(csrfHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(p.cookieToken))) != 1 {
		return errCSRF
	}
	return nil
}
