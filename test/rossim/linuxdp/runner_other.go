//go:build !unix

package linuxdp

import (
	"context"
	"errors"
)

// Runner runs the dataplane's commands; see the unix version.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (stdout []byte, err error)
	Start(ctx context.Context, name string, args ...string) (Process, error)
}

// Process is a child started by Runner.Start.
type Process interface{ Stop() error }

var errUnsupported = errors.New("linuxdp: needs a unix system with Linux networking tools")

// Local returns a Runner that fails: the dataplane needs Linux.
func Local() Runner { return unsupported{} }

type unsupported struct{}

func (unsupported) Run(context.Context, string, ...string) ([]byte, error) {
	return nil, errUnsupported
}

func (unsupported) Start(context.Context, string, ...string) (Process, error) {
	return nil, errUnsupported
}
