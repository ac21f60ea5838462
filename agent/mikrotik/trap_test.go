package mikrotik

import (
	"fmt"
	"testing"
)

// Only "no such command" means a menu is missing; a permission refusal must
// not read as an empty menu (the plan would re-add what is there).
func TestIsMissingMenu(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&trap{cmd: "/routing/bgp/instance/print", msg: "no such command prefix"}, true},
		{fmt.Errorf("read: %w", &trap{cmd: "/x/print", msg: "no such command or directory (x)"}), true},
		{&trap{cmd: "/ip/firewall/filter/print", msg: "not enough permissions (9)"}, false},
		{fmt.Errorf("connection reset"), false},
	} {
		if got := isMissingMenu(tc.err); got != tc.want {
			t.Errorf("isMissingMenu(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
