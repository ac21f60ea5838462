package routeros

import (
	"slices"
	"testing"
)

// An item without its own anchor follows tether's previous item of the same
// menu and chain; another chain or menu starts afresh; a Last item has none.
func TestEffectiveAnchors(t *testing.T) {
	rule := func(chain, anchor string, last bool) Item {
		return Item{Path: "/ip/firewall/filter", Attrs: []Attr{{Name: "chain", Value: chain}}, Anchor: anchor, Last: last}
	}
	items := []Item{
		rule("input", "", false),
		rule("forward", "defconf: drop invalid", false),
		rule("forward", "", false),
		rule("input", "defconf: drop all not coming from LAN", false),
		rule("input", "", false),
		rule("forward", "", true),
		{Path: "/ipv6/firewall/filter", Attrs: []Attr{{Name: "chain", Value: "forward"}}},
	}
	want := []string{"", "defconf: drop invalid", "defconf: drop invalid",
		"defconf: drop all not coming from LAN", "defconf: drop all not coming from LAN", "", ""}
	if got := EffectiveAnchors(items); !slices.Equal(got, want) {
		t.Errorf("EffectiveAnchors = %q\nwant %q", got, want)
	}
}
