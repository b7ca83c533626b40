// Package schemas embeds trackstream's ClickHouse migrations so every
// binary carries the schema it expects. Migrations live in clickhouse/ as
// NNNN_name.sql files of ';'-terminated statements and are applied in
// version order, each once.
//
// One set of files serves two variants: a single ClickHouse server (or the
// embedded engine) and a cluster (ON CLUSTER, Replicated engines, local
// tables behind Distributed ones). The files carry placeholders that
// [MigrationsFor] renders: ${ON_CLUSTER}, ${REPLICATED}, ${LOCAL} and
// ${CLUSTER}; a statement preceded by the comment line "-- @cluster-only"
// exists only in the cluster variant.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed clickhouse/*.sql
var files embed.FS

// Database is the ClickHouse database the migrations create and use.
const Database = "trackstream"

// Migration is one versioned schema change.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

// Variant selects how migrations are rendered.
type Variant struct {
	// Cluster is the ClickHouse cluster name (from the server's
	// remote_servers configuration). Empty means a single server.
	Cluster string
}

// clusterName is what a cluster name may contain; it is written into DDL.
var clusterName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// Validate checks the cluster name.
func (v Variant) Validate() error {
	if v.Cluster != "" && !clusterName.MatchString(v.Cluster) {
		return fmt.Errorf("cluster name %q: want 1-128 of [A-Za-z0-9_.-]", v.Cluster)
	}
	return nil
}

// Render fills the placeholders of a statement for v.
func (v Variant) Render(stmt string) string {
	r := strings.NewReplacer("${ON_CLUSTER}", "", "${REPLICATED}", "", "${LOCAL}", "", "${CLUSTER}", "''")
	if v.Cluster != "" {
		r = strings.NewReplacer("${ON_CLUSTER}", "ON CLUSTER '"+v.Cluster+"'", "${REPLICATED}", "Replicated",
			"${LOCAL}", "_local", "${CLUSTER}", "'"+v.Cluster+"'")
	}
	return r.Replace(stmt)
}

// Migrations returns the embedded migrations in version order, rendered
// for a single server.
func Migrations() ([]Migration, error) {
	return MigrationsFor(Variant{})
}

// MigrationsFor returns the embedded migrations in version order, rendered
// for v.
func MigrationsFor(v Variant) ([]Migration, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	ms, err := parse(files, "clickhouse")
	if err != nil {
		return nil, err
	}
	for i := range ms {
		var stmts []string
		for _, s := range ms[i].Statements {
			if rest, ok := strings.CutPrefix(s, clusterOnly); ok {
				if v.Cluster == "" {
					continue
				}
				s = rest
			}
			stmts = append(stmts, strings.TrimSpace(v.Render(s)))
		}
		ms[i].Statements = stmts
	}
	return ms, nil
}

// clusterOnly starts a statement that exists only in the cluster variant.
const clusterOnly = "@cluster-only\n"

func parse(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || v == 0 || rest == "" {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql with NNNN > 0", name)
		}
		if other, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[uint32(v)] = name
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		stmts := splitStatements(string(body))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("migration %s has no statements", name)
		}
		out = append(out, Migration{Version: uint32(v), Name: rest, Statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// splitStatements splits on ';' at the end of a line and drops '--' comment
// lines; migrations keep semicolons out of string literals.
func splitStatements(body string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "-- @cluster-only" && cur.Len() == 0 {
			cur.WriteString(clusterOnly)
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			stmts = append(stmts, s)
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}
