package ingest

import (
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/trackstream/trackstream/internal/jsonread"
)

// quickCases are schemas using every keyword the quick form knows, with
// documents on both sides of each bound.
var quickCases = []struct {
	schema string
	docs   []string
}{
	{`{"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":10}}}`,
		[]string{`{"n":0}`, `{"n":1}`, `{"n":10}`, `{"n":11}`, `{"n":-1}`, `{"n":1.0}`, `{"n":1.5}`, `{"n":1e1}`, `{"n":"1"}`, `{}`, `[]`, `{"m":true}`}},
	{`{"properties":{"s":{"type":["string","null"],"minLength":2,"maxLength":3}}}`,
		[]string{`{"s":"ab"}`, `{"s":"a"}`, `{"s":"abcd"}`, `{"s":"äöü"}`, `{"s":"\u00e4\u00f6"}`, `{"s":"😀😀"}`, `{"s":null}`, `{"s":1}`, `7`, `"x"`}},
	// Longer than the quick form's buffer for counting: counted all the same.
	{`{"properties":{"s":{"type":"string","minLength":299,"maxLength":300}}}`,
		[]string{`{"s":"` + strings.Repeat("é", 298) + `"}`, `{"s":"` + strings.Repeat("é", 300) + `"}`, `{"s":"` + strings.Repeat("é", 301) + `"}`,
			`{"s":"` + strings.Repeat(`\u00e9`, 299) + `"}`, `{"s":"` + strings.Repeat(`\u00e9`, 301) + `"}`}},
	{`{"type":"array","items":{"type":"number","minimum":0.5}}`,
		[]string{`[]`, `[1,2]`, `[0.5]`, `[0.50000000000000001]`, `[0.49999999999999999]`, `[5e-1]`, `[0.6]`, `[0.4]`, `[1,"x"]`, `{}`}},
	{`{"type":"object","properties":{"o":{"type":"object","properties":{"b":{"type":"boolean"}}}}}`,
		[]string{`{"o":{"b":true}}`, `{"o":{"b":1}}`, `{"o":[]}`, `{"o":{"c":1}}`}},
}

// TestQuickSchemaNeverAcceptsWhatTheValidatorRefuses: whenever the quick
// form says valid, the full validator agrees; and it does say valid for
// the plainly valid documents (or it would be useless).
func TestQuickSchemaNeverAcceptsWhatTheValidatorRefuses(t *testing.T) {
	quickAccepted := 0
	for i, tc := range quickCases {
		q, full := compileBoth(t, tc.schema)
		if q == nil {
			t.Fatalf("case %d: schema %s has no quick form", i, tc.schema)
		}
		for _, doc := range tc.docs {
			v, _, err := jsonread.Validate([]byte(doc), jsonread.Limits{MaxDepth: 32})
			if err != nil {
				t.Fatal(err)
			}
			fullErr := full.Validate(schemaValue(v))
			if q.valid(v) {
				quickAccepted++
				if fullErr != nil {
					t.Errorf("schema %s: quick accepted %s, the validator refuses it: %v", tc.schema, doc, fullErr)
				}
			}
		}
	}
	if quickAccepted < 15 {
		t.Errorf("the quick form accepted only %d documents", quickAccepted)
	}
}

// TestShippedSchemasHaveQuickForms: every shipped event schema is fast.
func TestShippedSchemasHaveQuickForms(t *testing.T) {
	for typ, cs := range goldenSchemas(t).byType {
		if cs.quick == nil {
			t.Errorf("schema %s v%d uses keywords the quick form does not know: every event of it pays the full validator", typ, cs.version)
		}
	}
}

func TestQuickSchemaRefusesUnknownKeywords(t *testing.T) {
	for _, s := range []string{`{"required":["a"]}`, `{"properties":{"a":{"enum":[1]}}}`, `{"additionalProperties":false}`, `{"pattern":"a"}`, `{"minimum":0.1}`} {
		if q, _ := compileBoth(t, s); q != nil {
			t.Errorf("schema %s got a quick form", s)
		}
	}
}

// FuzzQuickSchema compares the quick form with the validator on any
// document that passes the hardening scan.
func FuzzQuickSchema(f *testing.F) {
	for _, tc := range quickCases {
		for _, d := range tc.docs {
			f.Add(d)
		}
	}
	var qs []*quickSchema
	var fulls []*jsonschema.Schema
	for _, tc := range quickCases {
		q, full := compileBoth(f, tc.schema)
		qs, fulls = append(qs, q), append(fulls, full)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		v, _, err := jsonread.Validate([]byte(doc), jsonread.Limits{MaxDepth: 16})
		if err != nil {
			return
		}
		for i, q := range qs {
			if q.valid(v) {
				if err := fulls[i].Validate(schemaValue(v)); err != nil {
					t.Fatalf("schema %s: quick accepted %s, the validator refuses it: %v", quickCases[i].schema, doc, err)
				}
			}
		}
	})
}

func compileBoth(t testing.TB, schema string) (*quickSchema, *jsonschema.Schema) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem://s.json", doc); err != nil {
		t.Fatal(err)
	}
	full, err := c.Compile("mem://s.json")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := compileQuick(doc)
	return q, full
}
