package rossim

import (
	"os"
	"strings"
	"testing"
)

// TestExampleScenario keeps testdata/relay.toml loadable and its key in
// step with KeyPair("relay").
func TestExampleScenario(t *testing.T) {
	b, err := os.ReadFile("testdata/relay.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `public-key = "`+mustPub("relay")+`"`) {
		t.Fatalf("testdata/relay.toml public-key is not KeyPair(\"relay\"): want %s", mustPub("relay"))
	}
	w, f, err := LoadScenario("testdata/relay.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.FarEnds) != 1 || !w.FarEnds[0].AcceptAnyKey || f.Latency == 0 {
		t.Errorf("world %+v faults %+v", w, f)
	}
}
