package adminapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/trackstream/trackstream/schemas"
)

// schemaCatalog is the embedded event JSON Schemas, loaded once.
type schemaCatalog struct {
	byType map[string][]schemas.EventSchema // versions ascending
	types  []string
}

func loadSchemas() (*schemaCatalog, error) {
	all, err := schemas.EventSchemas()
	if err != nil {
		return nil, err
	}
	c := &schemaCatalog{byType: map[string][]schemas.EventSchema{}}
	for _, s := range all {
		c.byType[s.Type] = append(c.byType[s.Type], s)
	}
	for t, vs := range c.byType {
		sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
		c.types = append(c.types, t)
	}
	sort.Strings(c.types)
	return c, nil
}

type schemaSummary struct {
	Type     string `json:"type"`
	Version  int    `json:"version"`
	URL      string `json:"url"`
	Versions []int  `json:"versions"`
}

// listSchemas lists the registered event types with the version in force
// (the highest) and every version kept.
func (s *Server) listSchemas(w http.ResponseWriter, _ *http.Request, _ principal) error {
	out := make([]schemaSummary, 0, len(s.schemas.types))
	for _, t := range s.schemas.types {
		vs := s.schemas.byType[t]
		latest := vs[len(vs)-1]
		sum := schemaSummary{Type: t, Version: latest.Version, URL: latest.URL}
		for _, v := range vs {
			sum.Versions = append(sum.Versions, v.Version)
		}
		out = append(out, sum)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"event_types": out})
}

// getSchema returns one event type's JSON Schema: the version in force, or
// ?version=N.
func (s *Server) getSchema(w http.ResponseWriter, r *http.Request, _ principal) error {
	vs, ok := s.schemas.byType[r.PathValue("type")]
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "no schema for event type %q; GET /api/v1/schemas lists them", r.PathValue("type"))
	}
	pick := vs[len(vs)-1]
	if q := r.URL.Query().Get("version"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil {
			return badRequest("invalid_parameter", "version must be a number")
		}
		found := false
		for _, sc := range vs {
			if sc.Version == v {
				pick, found = sc, true
			}
		}
		if !found {
			return errorf(http.StatusNotFound, "not_found", "event type %q has no version %d", pick.Type, v)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"type": pick.Type, "version": pick.Version, "url": pick.URL, "schema": json.RawMessage(pick.JSON),
	})
}
