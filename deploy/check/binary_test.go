package check

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readDockerfile parses deploy/Dockerfile.
func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	root := mustRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDockerfile(string(src))
	if err != nil {
		t.Fatalf("deploy/Dockerfile: %v", err)
	}
	return d
}

func mustRoot(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildLikeDockerfile runs the RUN commands of deploy/Dockerfile's build
// stage here, in order, with the stage's ARG defaults (VERSION overridden
// by version) in the environment, the repository root standing in for
// WORKDIR /src (the stage copies the whole context there) and a temporary
// directory standing in for /out. It returns the binary they made.
func buildLikeDockerfile(t *testing.T, version string) string {
	t.Helper()
	root := mustRoot(t)
	d := readDockerfile(t)
	st, ok := d.stage("build")
	if !ok {
		t.Fatal("deploy/Dockerfile has no stage named build")
	}
	out := t.TempDir()
	args := stageArgs(d, st)
	args["VERSION"] = version
	env := os.Environ()
	for k, v := range args {
		env = append(env, k+"="+v)
	}
	var runs int
	for _, in := range st.Instrs {
		switch in.Cmd {
		case "WORKDIR":
			if in.Args != "/src" {
				t.Fatalf("Dockerfile line %d: build stage WORKDIR %s; this check stands the repository root in for /src", in.Line, in.Args)
			}
		case "RUN":
			cmdline := strings.ReplaceAll(in.Args, "/out/", out+"/")
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
			cmd.Dir = root
			cmd.Env = env
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			err := cmd.Run()
			cancel()
			if err != nil {
				t.Fatalf("Dockerfile line %d: RUN %s\nfailed here: %v\n%s", in.Line, in.Args, err, buf.String())
			}
			runs++
		}
	}
	if runs == 0 {
		t.Fatal("the build stage of deploy/Dockerfile has no RUN commands")
	}
	bin := filepath.Join(out, "trackstream")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the build stage's commands made no /out/trackstream: %v", err)
	}
	return bin
}

// TestDockerfileBuildStage runs the build stage's commands here and checks
// the binary reports the version passed as a build arg.
func TestDockerfileBuildStage(t *testing.T) {
	bin := buildLikeDockerfile(t, "v9.9.9-check")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	if !strings.Contains(string(out), "v9.9.9-check") {
		t.Errorf("trackstream version printed %q; want the VERSION build arg v9.9.9-check (the -X main.version ldflag)", out)
	}
}

// TestDockerfilePinsMatchRepository keeps the Dockerfile's Go and chDB
// versions and the runtime images' users in line with the repository.
func TestDockerfilePinsMatchRepository(t *testing.T) {
	root := mustRoot(t)
	d := readDockerfile(t)

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVer == nil {
		t.Fatal("go.mod has no go directive")
	}
	if got := d.GlobalArgs["GO_VERSION"]; got != string(goVer[1]) {
		t.Errorf("Dockerfile ARG GO_VERSION=%s, go.mod says go %s", got, goVer[1])
	}

	taskfile, err := os.ReadFile(filepath.Join(root, "Taskfile.yml"))
	if err != nil {
		t.Fatal(err)
	}
	chdbVer := regexp.MustCompile(`(?m)^\s*CHDB_VERSION:\s*(\S+)`).FindSubmatch(taskfile)
	if chdbVer == nil {
		t.Fatal("Taskfile.yml has no CHDB_VERSION")
	}
	if got := d.GlobalArgs["CHDB_VERSION"]; got != string(chdbVer[1]) {
		t.Errorf("Dockerfile ARG CHDB_VERSION=%s, Taskfile.yml CHDB_VERSION=%s", got, chdbVer[1])
	}

	for _, tc := range []struct {
		stage   string
		wantEnv []string
	}{
		{"runtime", []string{"TRACKSTREAM_OPS_ADDR=0.0.0.0:9090"}},
		{"all", []string{"TRACKSTREAM_OPS_ADDR=0.0.0.0:9090", "TRACKSTREAM_CHDB_LIB=/usr/local/lib/trackstream/libchdb.so"}},
	} {
		st, ok := d.stage(tc.stage)
		if !ok {
			t.Errorf("Dockerfile has no stage %s", tc.stage)
			continue
		}
		var user, env, copies string
		for _, in := range st.Instrs {
			switch in.Cmd {
			case "USER":
				user = in.Args
			case "ENV":
				env += " " + strings.Join(strings.Fields(in.Args), " ")
			case "COPY":
				copies += in.Args + "\n"
			}
		}
		if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
			t.Errorf("stage %s runs as %q; want a non-root USER", tc.stage, user)
		}
		for _, w := range tc.wantEnv {
			if !strings.Contains(env, w) {
				t.Errorf("stage %s does not set ENV %s", tc.stage, w)
			}
		}
		if !strings.Contains(copies, "--from=build /out/trackstream") {
			t.Errorf("stage %s does not copy the build stage's binary", tc.stage)
		}
		if tc.stage == "all" && !strings.Contains(copies, "/usr/local/lib/trackstream/libchdb.so") {
			t.Errorf("stage all does not put libchdb.so where TRACKSTREAM_CHDB_LIB points")
		}
	}
}

// TestParseDockerfileRejects shows the parser refuses what it cannot read
// rather than checking nothing.
func TestParseDockerfileRejects(t *testing.T) {
	for name, src := range map[string]string{
		"empty":              "# only a comment\n",
		"instruction first":  "RUN true\nFROM x\n",
		"dangling continued": "FROM x\nRUN a \\\n",
		"bad from":           "FROM a b c d\n",
	} {
		if _, err := parseDockerfile(src); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
