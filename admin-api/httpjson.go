package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// maxBodyBytes caps every request body.
const maxBodyBytes = 64 << 10

// apiError is an error answered as {"error": code, "message": message}:
// code is machine-readable and stable, message is for people.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func badRequest(code, format string, a ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, a...)
}

var (
	errUnauthorized = errorf(http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token> (from POST /api/v1/auth/login or an API token)")
	errForbidden    = errorf(http.StatusForbidden, "forbidden", "your role may not use this endpoint; it needs the admin role")
	errNotFound     = errorf(http.StatusNotFound, "not_found", "no such endpoint; see GET /api/v1/openapi.json")
	errKafka        = errorf(http.StatusServiceUnavailable, "kafka_unavailable", "the change could not be stored in Kafka; retry later")
)

// decodeJSON reads one JSON object into v, refusing unknown fields,
// trailing data and bodies over maxBodyBytes.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the body exceeds %d bytes", maxBodyBytes)
		}
		return badRequest("invalid_json", "%v", err)
	}
	if dec.More() {
		return badRequest("invalid_json", "unexpected data after the JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	_ = writeJSON(w, e.Status, e)
}
