//go:build unix

package linuxdp

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/tether-net/tether/test/lab"
)

// InHost returns a Runner that runs commands inside a lab host's network,
// mount and UTS namespaces: the simulator process stays where it is (its
// API on the test's loopback) while its dataplane lives in the host.
func InHost(h *lab.Host) Runner { return inHost{h} }

type inHost struct{ h *lab.Host }

func (r inHost) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, errb, code, err := r.h.Run(ctx, name, args...)
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, bytes.TrimSpace(errb))
	}
	if code != 0 {
		return out, fmt.Errorf("%s: %s %s: exit %d: %s", r.h.Name(), name, strings.Join(args, " "), code, bytes.TrimSpace(errb))
	}
	return out, nil
}

func (r inHost) Start(ctx context.Context, name string, args ...string) (Process, error) {
	p, err := r.h.Start(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	return p, nil // *lab.Proc: Stop kills the group and waits for the reap
}
