package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/trackstream/trackstream/internal/jsonread"
	"github.com/trackstream/trackstream/schemas"
)

// schemaSet holds the compiled JSON Schema (Draft 2020-12) in force for
// each event type: the highest version under schemas/events/.
type schemaSet struct {
	byType  map[string]*compiledSchema
	printer *message.Printer
}

type compiledSchema struct {
	version int
	schema  *jsonschema.Schema
	// quick accepts most valid events without the full validator; nil
	// when the schema uses keywords it does not know.
	quick *quickSchema
}

// noLoader refuses every external $ref: event schemas are self-contained
// and compiling them must never touch the network or the file system.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("event schemas may not load %s; make them self-contained", url)
}

// compileSchemas compiles the latest version of every type in all.
func compileSchemas(all []schemas.EventSchema) (*schemaSet, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	set := &schemaSet{byType: map[string]*compiledSchema{}, printer: message.NewPrinter(language.English)}
	for typ, s := range schemas.Latest(all) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.JSON))
		if err != nil {
			return nil, fmt.Errorf("event schema %s v%d: %w", typ, s.Version, err)
		}
		if err := c.AddResource(s.URL, doc); err != nil {
			return nil, fmt.Errorf("event schema %s v%d: %w", typ, s.Version, err)
		}
		sch, err := c.Compile(s.URL)
		if err != nil {
			return nil, fmt.Errorf("compile event schema %s v%d: %w", typ, s.Version, err)
		}
		quick, _ := compileQuick(doc)
		set.byType[typ] = &compiledSchema{version: s.Version, schema: sch, quick: quick}
	}
	return set, nil
}

// has reports whether typ has a schema.
func (s *schemaSet) has(typ string) bool {
	_, ok := s.byType[typ]
	return ok
}

// validate checks an event's properties (an object, or nothing for
// none) against the schema of typ. It returns the JSON path inside the
// properties (e.g. "price" or "items[2].sku", "" for the object itself)
// and the reason of the first violation, or ok when valid or typ has no
// schema.
func (s *schemaSet) validate(typ string, props jsonread.Value) (path, reason string, ok bool) {
	cs, found := s.byType[typ]
	if !found {
		return "", "", true
	}
	if cs.quick != nil && cs.quick.valid(props) {
		return "", "", true
	}
	v := schemaValue(props)
	err := cs.schema.Validate(v)
	if err == nil {
		return "", "", true
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "", err.Error(), false
	}
	// The first leaf is the most specific violation.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return instancePath(ve.InstanceLocation), fmt.Sprintf("%s (schema %s v%d)", ve.ErrorKind.LocalizedString(s.printer), typ, cs.version), false
}

// instancePath renders a JSON Schema instance location as a JSON path.
func instancePath(loc []string) string {
	var sb strings.Builder
	for _, tok := range loc {
		if isIndex(tok) {
			sb.WriteString("[" + tok + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(tok)
	}
	return sb.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// schemaValue builds the value a schema validates from checked JSON, as
// jsonschema.UnmarshalJSON would (numbers as json.Number, so none loses
// precision; nothing as an empty object, as properties are when absent),
// without running a decoder over it again. Its strings and keys view v's
// bytes (see view): the value must not outlive the validation.
func schemaValue(v jsonread.Value) any {
	switch v.Kind() {
	case jsonread.Object, jsonread.Nothing:
		m := map[string]any{}
		for it := v.Members(); ; {
			key, val, ok := it.Next()
			if !ok {
				return m
			}
			m[view(key)] = schemaValue(val)
		}
	case jsonread.Array:
		a := []any{}
		for it := v.Elements(); ; {
			val, ok := it.Next()
			if !ok {
				return a
			}
			a = append(a, schemaValue(val))
		}
	case jsonread.String:
		if raw := v.Raw(); bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
			return view(raw[1 : len(raw)-1])
		}
		return v.Text()
	case jsonread.Bool:
		return v.Raw()[0] == 't'
	case jsonread.Null:
		return nil
	}
	return json.Number(v.Raw())
}

// view is b as a string without copying it. Only for strings that are
// dropped before b changes: the values built for one schema validation,
// which the request body outlives.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
