package mikrotik

import (
	"context"
	"fmt"
	"strings"
)

// Print reads one menu with the given .proplist (every attribute when it is
// empty) and returns its rows in the router's order. It only reads; a menu
// the router lacks is a refusal, which IsRefusal tells from a lost
// connection. tether import uses it; name only the attributes you need, so
// secrets such as private-key are never fetched.
func (d *Device) Print(ctx context.Context, path string, proplist ...string) ([]map[string]string, error) {
	words := []string{path + "/print"}
	if len(proplist) > 0 {
		words = append(words, "=.proplist="+strings.Join(proplist, ","))
	}
	rep, err := d.c.run(ctx, words...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rep.Re, nil
}

// IsRefusal reports whether err is the router refusing a command (!trap),
// such as a print of a menu this RouterOS version does not have.
func IsRefusal(err error) bool { return isTrap(err) }
