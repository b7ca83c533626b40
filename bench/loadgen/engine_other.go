//go:build !linux

package loadgen

import (
	"context"
	"errors"
)

// runEngine needs epoll: the generator runs on Linux only.
func runEngine(context.Context, Options, *idSink) (*measured, error) {
	return nil, errors.New("loadgen: the load generator needs Linux (epoll)")
}
