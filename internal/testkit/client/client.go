// Package client calls a running trackstream over HTTP the way tests and
// the benchmark harness need to: admin login, sources and exact counts on
// the admin API, knowing when ingest has learnt a new source, and reading
// one figure from an ops listener's /metrics. Every call is bounded in time
// and returns an error instead of failing a test, so code outside tests can
// use it too.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// maxBody bounds how much of an answer is read.
const maxBody = 8 << 20

// StatusError is a call answered with a status other than the one wanted.
type StatusError struct {
	Method, Path string
	Code         int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Code, e.Body)
}

// Code is the HTTP status of a StatusError in err's chain, or 0.
func Code(err error) int {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Code
	}
	return 0
}

// Admin is a client of the admin API.
type Admin struct {
	// URL is the admin listener, e.g. http://127.0.0.1:8081.
	URL string
	// Token is the bearer token sent with every call; empty: none.
	Token string
	// HTTP makes the calls; nil: a client with a 30 s timeout.
	HTTP *http.Client

	// user and password log in again when a restarted admin API no longer
	// knows the session.
	user, password string
}

// Login logs in as user and returns a client that sends the session token,
// and logs in again once when a call is refused with 401 (a restarted
// admin API forgets its sessions).
func Login(ctx context.Context, adminURL, user, password string) (*Admin, error) {
	a := &Admin{URL: adminURL, user: user, password: password}
	return a, a.login(ctx)
}

func (a *Admin) login(ctx context.Context) error {
	var out struct{ Token string }
	a.Token = ""
	if err := a.Call(ctx, http.MethodPost, "/api/v1/auth/login", map[string]string{"username": a.user, "password": a.password}, &out); err != nil {
		return fmt.Errorf("admin login as %s: %w", a.user, err)
	}
	if out.Token == "" {
		return errors.New("admin login answered no token")
	}
	a.Token = out.Token
	return nil
}

// Do sends a request with in as its JSON body (nil: no body; a string or
// []byte: sent as is) and returns the status and the answer, whatever the
// status. Only a failed exchange is an error.
func (a *Admin) Do(ctx context.Context, method, path string, in any) (int, []byte, error) {
	code, body, err := a.do(ctx, method, path, in)
	if code == http.StatusUnauthorized && a.Token != "" && a.password != "" {
		if err := a.login(ctx); err != nil {
			return 0, nil, err
		}
		code, body, err = a.do(ctx, method, path, in)
	}
	return code, body, err
}

func (a *Admin) do(ctx context.Context, method, path string, in any) (int, []byte, error) {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: encode the body: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

// Call is Do wanting a 2xx (else a *StatusError); the answer is decoded
// into out unless out is nil.
func (a *Admin) Call(ctx context.Context, method, path string, in, out any) error {
	code, body, err := a.Do(ctx, method, path, in)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return &StatusError{Method: method, Path: path, Code: code, Body: string(body)}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s %s: answer %.200q: %w", method, path, body, err)
		}
	}
	return nil
}

// CreateSource creates a source (write key) and returns its id.
func (a *Admin) CreateSource(ctx context.Context, name string) (string, error) {
	var out struct{ ID string }
	if err := a.Call(ctx, http.MethodPost, "/api/v1/sources", map[string]string{"name": name}, &out); err != nil {
		return "", fmt.Errorf("create source %q: %w", name, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("create source %q: the answer has no id", name)
	}
	return out.ID, nil
}

// Count is the admin API's exact count of the distinct events of source.
func (a *Admin) Count(ctx context.Context, source string) (uint64, error) {
	var out struct{ Count uint64 }
	err := a.Call(ctx, http.MethodGet, "/api/v1/events/count?source="+url.QueryEscape(source), nil, &out)
	return out.Count, err
}

// WaitSourceKnown polls the ingest listener at ingestURL with a request
// whose only event is invalid, until it is refused for that event (400)
// rather than for an unknown source (401): ingest learns sources through
// the sources topic. Nothing is stored either way.
func WaitSourceKnown(ctx context.Context, ingestURL, source string, within time.Duration) error {
	probe := fmt.Sprintf(`{"source":{"id":%q},"events":[{"type":"not a valid type!"}]}`, source)
	var last string
	err := testkit.Poll(ctx, within, func(ctx context.Context) bool {
		code, body, err := Post(ctx, ingestURL+"/track", []byte(probe))
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("status %d: %.200s", code, body)
		return code == http.StatusBadRequest
	})
	if err != nil {
		return fmt.Errorf("ingest at %s did not learn source %s (last answer: %s): %w", ingestURL, source, last, err)
	}
	return nil
}

// Post sends a JSON body to url with a bounded time and returns the status
// and the answer.
func Post(ctx context.Context, url string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, b, err
}

// Ready reports whether the ops listener at opsAddr answers /readyz with
// 200.
func Ready(ctx context.Context, opsAddr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+opsAddr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Metric reads the unlabelled series name from the ops listener at
// opsAddr; a series that is not exposed is an error.
func Metric(ctx context.Context, opsAddr, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+opsAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", opsAddr, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxBody))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s on %s: %w", name, opsAddr, err)
			}
			return f, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("scrape %s: %w", opsAddr, err)
	}
	return 0, fmt.Errorf("metric %s is not exposed on %s", name, opsAddr)
}
