// Command kustomize prints one of trackstream's Kubernetes overlays as
// `kubectl apply -k` would apply it, using the same kustomize library the
// checks use, so no kustomize or kubectl install is needed to look:
//
//	go run ./cmd/kustomize cluster > trackstream.yaml
//
// The argument is base, single-node or cluster.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kustomize:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: kustomize base|single-node|cluster")
	}
	dir := filepath.Join("..", "kubernetes", "overlays", args[0])
	if args[0] == "base" {
		dir = filepath.Join("..", "kubernetes", "base")
	}
	if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err != nil {
		return fmt.Errorf("no overlay %q (want base, single-node or cluster): %w", args[0], err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return fmt.Errorf("build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}
