package ingest

import (
	"encoding/json"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/trackstream/trackstream/internal/jsonread"
)

// quickSchema is a schema that uses only the keywords event schemas
// mostly need (type, properties, items, minLength, maxLength, minimum,
// maximum and annotations), checked directly on scanned JSON without
// building a value. It only ever says "valid" when the full validator
// would; anything it is not sure of (a violation, an integer written as
// 1.0, a number equal to a bound) goes to the full validator, which also
// words the rejection.
type quickSchema struct {
	types      typeSet // 0: any type
	properties map[string]*quickSchema
	items      *quickSchema
	minLength  int // -1: none
	maxLength  int // -1: none
	minimum    *float64
	maximum    *float64
}

// typeSet is a set of JSON Schema types.
type typeSet uint8

const (
	typeObject typeSet = 1 << iota
	typeArray
	typeString
	typeNumber
	typeInteger
	typeBoolean
	typeNull
)

var typeNames = map[string]typeSet{
	"object": typeObject, "array": typeArray, "string": typeString, "number": typeNumber,
	"integer": typeInteger, "boolean": typeBoolean, "null": typeNull,
}

// annotations are keywords that never affect validity.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
	"examples": true, "default": true, "deprecated": true, "readOnly": true, "writeOnly": true,
}

// compileQuick builds the quick form of a schema document (as
// jsonschema.UnmarshalJSON decodes it), or reports false when the schema
// uses anything else, so only the full validator is used for it.
func compileQuick(doc any) (*quickSchema, bool) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, false
	}
	q := &quickSchema{minLength: -1, maxLength: -1}
	for k, v := range m {
		switch {
		case annotations[k]:
		case k == "type":
			if q.types, ok = compileTypes(v); !ok {
				return nil, false
			}
		case k == "properties":
			props, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			q.properties = make(map[string]*quickSchema, len(props))
			for name, sub := range props {
				if q.properties[name], ok = compileQuick(sub); !ok {
					return nil, false
				}
			}
		case k == "items":
			if q.items, ok = compileQuick(v); !ok {
				return nil, false
			}
		case k == "minLength", k == "maxLength":
			n, isInt := schemaInt(v)
			if !isInt {
				return nil, false
			}
			if k == "minLength" {
				q.minLength = n
			} else {
				q.maxLength = n
			}
		case k == "minimum", k == "maximum":
			f, isNum := schemaFloat(v)
			if !isNum {
				return nil, false
			}
			if k == "minimum" {
				q.minimum = &f
			} else {
				q.maximum = &f
			}
		default:
			return nil, false
		}
	}
	return q, true
}

func compileTypes(v any) (typeSet, bool) {
	names, isList := v.([]any)
	if !isList {
		names = []any{v}
	}
	var set typeSet
	for _, n := range names {
		s, _ := n.(string)
		t, known := typeNames[s]
		if !known {
			return 0, false
		}
		set |= t
	}
	return set, set != 0
}

func schemaInt(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	return i, err == nil && i >= 0
}

// schemaFloat is a bound as a float64; bounds a float64 cannot hold
// exactly are left to the full validator.
func schemaFloat(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return 0, false
	}
	f, exact := r.Float64()
	return f, exact
}

// valid reports whether the checked JSON value v (nothing stands for an
// empty object, as absent properties do) certainly satisfies q; false
// means "ask the full validator".
func (q *quickSchema) valid(v jsonread.Value) bool {
	var t typeSet
	switch v.Kind() {
	case jsonread.Object, jsonread.Nothing:
		t = typeObject
	case jsonread.Array:
		t = typeArray
	case jsonread.String:
		t = typeString
	case jsonread.Bool:
		t = typeBoolean
	case jsonread.Null:
		t = typeNull
	default:
		t = typeNumber
		if isIntegerText(v.Raw()) {
			t |= typeInteger
		}
	}
	if q.types != 0 && q.types&t == 0 {
		return false
	}
	switch t {
	case typeObject:
		if q.properties == nil {
			return true
		}
		for it := v.Members(); ; {
			key, val, ok := it.Next()
			if !ok {
				return true
			}
			if sub := q.properties[string(key)]; sub != nil && !sub.valid(val) {
				return false
			}
		}
	case typeArray:
		if q.items == nil {
			return true
		}
		for it := v.Elements(); ; {
			val, ok := it.Next()
			if !ok {
				return true
			}
			if !q.items.valid(val) {
				return false
			}
		}
	case typeString:
		if q.minLength < 0 && q.maxLength < 0 {
			return true
		}
		var buf [256]byte // most strings fit: no allocation to count them
		n := utf8.RuneCount(v.AppendText(buf[:0]))
		return n >= q.minLength && (q.maxLength < 0 || n <= q.maxLength)
	}
	if t&typeNumber != 0 && (q.minimum != nil || q.maximum != nil) {
		f, err := strconv.ParseFloat(string(v.Raw()), 64)
		if err != nil {
			return false
		}
		// Rounding to float64 keeps order, so a strict inequality
		// between the rounded values holds for the exact ones; equality
		// is left to the full validator.
		if q.minimum != nil && !(f > *q.minimum) {
			return false
		}
		if q.maximum != nil && !(f < *q.maximum) {
			return false
		}
	}
	return true
}

// isIntegerText reports whether a JSON number is written without a
// fraction or exponent (1.0 is an integer too, but the full validator
// decides that one).
func isIntegerText(v []byte) bool {
	for _, c := range v {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}
