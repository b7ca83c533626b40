package ingest

import (
	"fmt"

	"github.com/trackstream/trackstream/internal/jsonread"
)

// fieldError is a member of the wrong JSON kind: its path (relative to the
// value being decoded) and why.
type fieldError struct {
	field  string
	reason string
}

func (e *fieldError) Error() string { return e.field + " " + e.reason }

// wrongKind is the error for a value at field that is not of kind want.
func wrongKind(field, want string, value jsonread.Value) *fieldError {
	return &fieldError{field: field, reason: fmt.Sprintf("must be %s, got %s", want, value.Kind())}
}

// stringField decodes a member that must be a string or null (""),
// naming field when it is another kind.
func stringField(field string, value jsonread.Value) (string, *fieldError) {
	switch value.Kind() {
	case jsonread.String:
		return value.Text(), nil
	case jsonread.Null:
		return "", nil
	}
	return "", wrongKind(field, "a string", value)
}

// flexIDField decodes an id that Segment libraries send as a string or, from
// some languages, a number (kept as its exact text); null is "".
func flexIDField(field string, value jsonread.Value) (string, *fieldError) {
	if value.Kind() == jsonread.Number {
		return string(value.Raw()), nil
	}
	return stringField(field, value)
}

// objectField checks a member that must be an object or null, returning
// it (nothing for null).
func objectField(field string, value jsonread.Value) (jsonread.Value, *fieldError) {
	return kindField(field, jsonread.Object, "an object", value)
}

// arrayField checks a member that must be an array or null, returning it
// (nothing for null).
func arrayField(field string, value jsonread.Value) (jsonread.Value, *fieldError) {
	return kindField(field, jsonread.Array, "an array", value)
}

// kindField checks a member that must be of kind want (named wantName)
// or null, returning it (nothing for null).
func kindField(field string, want jsonread.Kind, wantName string, value jsonread.Value) (jsonread.Value, *fieldError) {
	switch value.Kind() {
	case want:
		return value, nil
	case jsonread.Null:
		return jsonread.Value{}, nil
	}
	return jsonread.Value{}, wrongKind(field, wantName, value)
}

// idObjectField decodes Tracardi's {"id": "..."} references (source,
// session, profile); null or a missing id is "".
func idObjectField(field string, value jsonread.Value) (string, *fieldError) {
	obj, err := objectField(field, value)
	if err != nil {
		return "", err
	}
	id := ""
	for it := obj.Members(); ; {
		key, v, ok := it.Next()
		if !ok {
			return id, nil
		}
		if string(key) == "id" {
			if id, err = stringField("id", v); err != nil {
				// Named here, not before: a concatenation on every
				// call was an allocation per reference.
				err.field = field + ".id"
				return "", err
			}
		}
	}
}

// elements appends the elements of an array, at most max of them, to out
// and returns it with how many the array has in all.
func elements(out []jsonread.Value, arr jsonread.Value, max int) ([]jsonread.Value, int) {
	n := 0
	for it := arr.Elements(); ; n++ {
		v, ok := it.Next()
		if !ok {
			return out, n
		}
		if n < max {
			out = append(out, v)
		}
	}
}
