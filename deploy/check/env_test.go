package check

import (
	"os/exec"
	"testing"
)

// roleEnvs returns the TRACKSTREAM_* variables each role accepts, as the
// binary's own `help <role>` lists them (migrate is the one-shot schema
// step).
func roleEnvs(t *testing.T, bin string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, role := range []string{"all", "ingest", "processor", "admin-api", "migrate"} {
		help, err := exec.Command(bin, "help", role).CombinedOutput()
		if err != nil {
			t.Fatalf("%s help %s: %v\n%s", bin, role, err, help)
		}
		env := helpEnv(string(help))
		if len(env) == 0 {
			t.Fatalf("%s help %s lists no TRACKSTREAM_* variable", bin, role)
		}
		out[role] = env
	}
	return out
}

// checkEnv reports every TRACKSTREAM_* name in names that role does not
// accept (a typo there is silently ignored by the process).
func checkEnv(t *testing.T, envs map[string]map[string]bool, where, role string, names []string) {
	t.Helper()
	known, ok := envs[role]
	if !ok {
		t.Errorf("%s: runs role %q, which trackstream does not have", where, role)
		return
	}
	for _, n := range names {
		if len(n) > len("TRACKSTREAM_") && n[:len("TRACKSTREAM_")] == "TRACKSTREAM_" && !known[n] {
			t.Errorf("%s: sets %s, which `trackstream help %s` does not list", where, n, role)
		}
	}
}

func TestHelpEnvParsing(t *testing.T) {
	for _, tc := range []struct {
		help string
		want []string
	}{
		{"  -ops-addr (TRACKSTREAM_OPS_ADDR)\n      listener", []string{"TRACKSTREAM_OPS_ADDR"}},
		{"  TRACKSTREAM_CLICKHOUSE_DSN (environment only)\n", []string{"TRACKSTREAM_CLICKHOUSE_DSN"}},
		{"nothing here", nil},
	} {
		got := helpEnv(tc.help)
		if len(got) != len(tc.want) {
			t.Errorf("helpEnv(%q) = %v, want %v", tc.help, got, tc.want)
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("helpEnv(%q) misses %s", tc.help, w)
			}
		}
	}
}
