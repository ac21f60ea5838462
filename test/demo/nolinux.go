//go:build !linux

package main

import (
	"context"
	"fmt"
	"runtime"
)

// linuxDemo needs Linux network namespaces.
func linuxDemo(context.Context) error {
	fmt.Printf("\nLinux part skipped: needs Linux network namespaces (GOOS=%s)\n", runtime.GOOS)
	return nil
}
