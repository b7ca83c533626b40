package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Event schemas live in events/<type>/<version>.json: one JSON Schema
// (Draft 2020-12) per event type and version, applied by ingest to the
// event's properties (Segment identify and group: traits). The highest
// version of a type is the one in force; older versions stay for the
// record.

//go:embed events/*/*.json
var eventFiles embed.FS

// Draft202012 is the $schema every event schema must declare.
const Draft202012 = "https://json-schema.org/draft/2020-12/schema"

// EventSchema is one version of the JSON Schema of an event type.
type EventSchema struct {
	// Type is the event type the schema applies to, e.g. page-view.
	Type string
	// Version numbers a type's schemas from 1.
	Version int
	// URL is the schema's $id-style location, unique per type and version.
	URL string
	// JSON is the schema document.
	JSON []byte
}

// EventSchemas returns every embedded event schema, by type then version.
func EventSchemas() ([]EventSchema, error) {
	return parseEventSchemas(eventFiles, "events")
}

// Latest returns the highest version of each type, by type.
func Latest(all []EventSchema) map[string]EventSchema {
	out := map[string]EventSchema{}
	for _, s := range all {
		if cur, ok := out[s.Type]; !ok || s.Version > cur.Version {
			out[s.Type] = s
		}
	}
	return out
}

func parseEventSchemas(fsys fs.FS, dir string) ([]EventSchema, error) {
	paths, err := fs.Glob(fsys, dir+"/*/*.json")
	if err != nil {
		return nil, fmt.Errorf("list event schemas: %w", err)
	}
	var out []EventSchema
	for _, p := range paths {
		typ := path.Base(path.Dir(p))
		v, err := strconv.Atoi(strings.TrimSuffix(path.Base(p), ".json"))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("event schema %s: name must be <type>/<version>.json with version >= 1", p)
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read event schema %s: %w", p, err)
		}
		var head struct {
			Schema string `json:"$schema"`
		}
		if err := json.Unmarshal(body, &head); err != nil {
			return nil, fmt.Errorf("event schema %s is not JSON: %w", p, err)
		}
		if head.Schema != Draft202012 {
			return nil, fmt.Errorf("event schema %s: $schema is %q, want %q", p, head.Schema, Draft202012)
		}
		out = append(out, EventSchema{
			Type:    typ,
			Version: v,
			URL:     "https://trackstream.invalid/schemas/" + p,
			JSON:    body,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}
