// Package secret is the one place tether reads credential files and hides
// credentials in text it logs, prints or records in notes.
package secret

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Read returns the credential stored in path, without the line ending an
// editor leaves behind; inner and leading spaces are kept (they may belong to
// a password). An empty path means "no secret" and returns "". An empty file
// reads as ""; callers for which that is a mistake (a token) say so. The value
// must never be logged.
func Read(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// userinfoRE finds "scheme://userinfo@" in free text.
var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s]+@`)

// Redact strips userinfo (user and password or token) from every URL in s.
// scp-like "git@host:path" addresses are left alone: they cannot carry a
// password.
func Redact(s string) string { return userinfoRE.ReplaceAllString(s, "$1") }
