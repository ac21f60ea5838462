package rossim

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestDropAfterN(t *testing.T) {
	s, _ := newSim(t, Config{Faults: Faults{DropAfter: 2}})
	c := client(t, s)
	run(t, c, "/ip/address/print")
	run(t, c, "/ip/firewall/address-list/add", "=list=x", "=address=10.1.1.1")
	if _, err := c.Run("/ip/firewall/address-list/add", "=list=x", "=address=10.1.1.2"); err == nil {
		t.Fatal("third command answered, want dropped connection")
	}
	// The dropped command never ran; a new connection works again.
	c2 := client(t, s)
	if r := run(t, c2, "/ip/firewall/address-list/print", "?list=x"); len(r.Re) != 1 {
		t.Fatalf("list x has %d entries", len(r.Re))
	}
}

func TestDropAfterGlobal(t *testing.T) {
	s, _ := newSim(t, Config{Faults: Faults{DropAfterGlobal: 3}})
	a, b := client(t, s), client(t, s)
	run(t, a, "/system/identity/print")
	run(t, b, "/system/identity/print")
	run(t, a, "/system/identity/print")
	if _, err := b.Run("/system/identity/print"); err == nil {
		t.Fatal("fourth command overall answered")
	}
	s.SetFaults(Faults{}) // clears the fault and its counters
	run(t, client(t, s), "/system/identity/print")
}

func TestTrapInjectionAndLatency(t *testing.T) {
	s, _ := newSim(t, Config{Faults: Faults{Traps: []TrapRule{{Menu: "/ip/firewall/filter", Command: "add", Message: "simulated failure", Times: 1}}}})
	c := client(t, s)
	if msg := trapMsg(t, c, "/ip/firewall/filter/add", "=chain=input"); msg != "simulated failure" {
		t.Fatalf("trap %q", msg)
	}
	if r := run(t, c, "/ip/firewall/filter/print", "?chain=input"); len(r.Re) != 5 {
		t.Errorf("trapped add executed: %d input rules", len(r.Re))
	}
	run(t, c, "/ip/firewall/filter/add", "=chain=input") // Times: 1 -> second succeeds
	run(t, c, "/ip/firewall/filter/print")               // other commands unaffected

	s.SetFaults(Faults{Latency: 30 * time.Millisecond})
	start := time.Now()
	run(t, c, "/system/identity/print")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("latency not applied: %v", d)
	}
}

func TestStats(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	s.ResetStats()
	run(t, c, "/ip/address/print")
	run(t, c, "/ip/firewall/address-list/add", "=list=x", "=address=10.1.1.1")
	trapMsg(t, c, "/ip/firewall/address-list/add", "=list=x", "=address=nope nope")
	run(t, c, "/system/identity/set", "=name=a")
	st := s.Stats()
	if st.Commands != 4 || st.Writes != 2 || st.Traps != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestStateSaveLoad(t *testing.T) {
	s, _ := newSim(t, Config{Version: "7.18"})
	c := client(t, s)
	run(t, c, "/interface/wireguard/add", "=name=wg0")
	run(t, c, "/ip/firewall/filter/add", "=chain=input", "=comment=mine", "=place-before=*1")
	run(t, c, "/ip/firewall/filter/remove", "=numbers=*2")
	var buf bytes.Buffer
	if err := s.SaveState(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, buf.Bytes(), 0o600)

	s2, _ := newSim(t, Config{Version: "7.18", Bare: true})
	if err := s2.LoadStateFile(path); err != nil {
		t.Fatal(err)
	}
	d1, d2 := s.Dump(), s2.Dump()
	for k := range d1 {
		if !reflect.DeepEqual(d1[k], d2[k]) {
			t.Errorf("%s differs after load:\n%v\n%v", k, d1[k], d2[k])
		}
	}
	if len(d1) != len(d2) {
		t.Errorf("menus %d vs %d", len(d1), len(d2))
	}
	// ids continue from the saved counter, never reusing removed ones.
	id := run(t, client(t, s2), "/ip/firewall/filter/add", "=chain=input").Done.Map["ret"]
	if id != "*D" {
		t.Errorf("next id %s, want *D", id)
	}
}

func TestScenarioFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scenario.toml")
	os.WriteFile(path, []byte(`
reachable = ["192.0.2.0/24"]

[[far-end]]
name = "relay"
public-key = "`+mustPub("relay")+`"
accept-any-key = true
endpoint-address = "198.51.100.7"
endpoint-port = 51820
transit-address = "fd00:1::1"
asn = 65001
announces = ["2001:db8:100::/48"]
handshake-after = "5s"
establish-after = "1m"

[faults]
drop-after = 7
latency = "1ms"

[[faults.trap]]
menu = "/ip/route"
command = "add"
`), 0o600)
	w, f, err := LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.FarEnds) != 1 || w.FarEnds[0].ASN != 65001 || time.Duration(w.FarEnds[0].EstablishAfter) != time.Minute || w.Reachable[0] != "192.0.2.0/24" {
		t.Errorf("world %+v", w)
	}
	if f.DropAfter != 7 || f.Latency != time.Millisecond || len(f.Traps) != 1 || f.Traps[0].Menu != "/ip/route" {
		t.Errorf("faults %+v", f)
	}
	os.WriteFile(path, []byte("[[far-end]]\nnmae = \"typo\"\n"), 0o600)
	if _, _, err := LoadScenario(path); err == nil {
		t.Error("unknown key accepted")
	}
	s, _ := newSim(t, Config{World: w})
	if r := run(t, client(t, s), "/tool/ping", "=address=192.0.2.9", "=count=1"); r.Re[0].Map["received"] != "1" {
		t.Errorf("ping reachable: %v", rows(r))
	}
}
