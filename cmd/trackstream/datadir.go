package main

import (
	"fmt"
	"os"
	"syscall"
)

// privateDataDir makes the data dir of the embedded parts (broker log,
// ClickHouse files, the admin password hash) private to the service user:
// the directory is created or narrowed to 0700, so other local users can
// neither list nor open anything under it whatever the modes inside, and
// the process umask becomes 077, so every file and directory the broker
// and the engine create from now on is 0600/0700.
func privateDataDir(dir string) error {
	syscall.Umask(0o077)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make data dir %s private (0700): %w", dir, err)
	}
	return nil
}
