package mikrotik

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/test/rossim"
)

// tlsSim serves a fresh defconf simulator over TLS (api-ssl) with a
// self-signed certificate and returns it with the certificate's SHA-256.
func tlsSim(t *testing.T, version string) (*rossim.Sim, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "router"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	sim, err := rossim.New(rossim.Config{Version: version, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}))
	t.Cleanup(func() { sim.Close() })
	return sim, ln.Addr().String(), fmt.Sprintf("%x", sum[:])
}

func leastPrivilege(t *testing.T, sim *rossim.Sim, policy string) {
	t.Helper()
	for _, words := range [][]string{
		{"/user/group/add", "=name=tether", "=policy=" + policy},
		{"/user/add", "=name=tether", "=group=tether", "=password=s3cret-for-test"},
	} {
		if _, _, err := sim.Exec(words...); err != nil {
			t.Fatalf("%v: %v", words, err)
		}
	}
}

func failed(checks []contract.DoctorCheck) []string {
	var out []string
	for _, c := range checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Detail+" — fix: "+c.Fix)
		}
	}
	return out
}

func find(checks []contract.DoctorCheck, name string) *contract.DoctorCheck {
	for i := range checks {
		if checks[i].Name == name {
			return &checks[i]
		}
	}
	return nil
}

// TestDoctorLeastPrivilege: on a fresh simulated router, over api-ssl with
// the certificate pinned, the least-privilege user of docs/routeros.md
// passes every check; the capture holds the read-only sentences with the
// password redacted and none of the dead-man's writes.
func TestDoctorLeastPrivilege(t *testing.T) {
	sim, addr, fp := tlsSim(t, "7.22.3")
	leastPrivilege(t, sim, "api,read,write,test")
	n := defconfSite(t, "7.22.3")
	n.Sites["home"].Addresses = nil // nothing that defconf already has
	var capBuf bytes.Buffer
	capture := NewCapture(&capBuf)
	conn := Conn{Address: addr, Username: "tether", Password: "s3cret-for-test", TLS: true, Fingerprint: fp, Timeout: 5 * time.Second}
	before := state(sim)
	checks := Doctor(context.Background(), conn, n, "home", DoctorOptions{Capture: capture})
	if f := failed(checks); len(f) > 0 {
		t.Fatalf("doctor failed on a fresh router:\n%s", strings.Join(f, "\n"))
	}
	for _, want := range []string{"reach", "tls", "login", "version", "policies", "clock", "look-alikes", "owned items", "dead-man"} {
		if find(checks, want) == nil {
			t.Errorf("no %s check", want)
		}
	}
	if d := diffState(before, state(sim)); d != "" {
		t.Fatalf("doctor left changes behind:\n%s", d)
	}
	if capture.Err() != nil {
		t.Fatal(capture.Err())
	}
	text := capBuf.String()
	if strings.Contains(text, "s3cret-for-test") || !strings.Contains(text, "=password="+redacted) {
		t.Fatalf("capture must hold the login with the password redacted:\n%s", text)
	}
	var sawVersion bool
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s captured
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("capture line %q: %v", sc.Text(), err)
		}
		if s.Dir == "send" && len(s.Words) > 0 && writeVerbs[verbOf(s.Words[0])] {
			t.Fatalf("capture holds a write: %v", s.Words)
		}
		for _, w := range s.Words {
			sawVersion = sawVersion || strings.HasPrefix(w, "=version=7.22.3")
		}
	}
	if !sawVersion {
		t.Fatalf("capture lacks the router's version reply:\n%s", text)
	}
}

// TestDoctorFailures: a missing policy, a wrong pin, a site declaring
// defconf's address and an owned item the site no longer declares each
// fail with a fix that says what to do.
func TestDoctorFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("policy", func(t *testing.T) {
		sim, addr, fp := tlsSim(t, "7.22.3")
		leastPrivilege(t, sim, "api,read,write")
		n := defconfSite(t, "7.22.3")
		conn := Conn{Address: addr, Username: "tether", Password: "s3cret-for-test", TLS: true, Fingerprint: fp, Timeout: 5 * time.Second}
		checks := Doctor(ctx, conn, n, "home", DoctorOptions{})
		c := find(checks, "policies")
		if c == nil || c.OK || !strings.Contains(c.Detail, "lacks test") || !strings.Contains(c.Detail, "/tool/ping") ||
			!strings.Contains(c.Fix, "/user group set tether policy=api,read,test,write") {
			t.Fatalf("policies check: %+v", c)
		}
		if c := find(checks, "look-alikes"); c == nil || c.OK || !strings.Contains(c.Detail, "192.168.88.1/24 on bridge") || !strings.Contains(c.Fix, "tether adopt") {
			t.Fatalf("look-alikes check: %+v", c)
		}
		// The dead-man only restores configuration: read and write are all
		// its script and scheduler ask for, so it works without test.
		if c := find(checks, "dead-man"); c == nil || !c.OK {
			t.Fatalf("dead-man check without test: %+v", c)
		}
	})
	t.Run("policy write", func(t *testing.T) {
		sim, addr, fp := tlsSim(t, "7.22.3")
		leastPrivilege(t, sim, "api,read,test")
		n := defconfSite(t, "7.22.3")
		conn := Conn{Address: addr, Username: "tether", Password: "s3cret-for-test", TLS: true, Fingerprint: fp, Timeout: 5 * time.Second}
		checks := Doctor(ctx, conn, n, "home", DoctorOptions{})
		if c := find(checks, "policies"); c == nil || c.OK || !strings.Contains(c.Detail, "lacks write") {
			t.Fatalf("policies check: %+v", c)
		}
		// Without write the dead-man's script cannot be created: the round
		// trip says so, and leaves nothing behind.
		if c := find(checks, "dead-man"); c == nil || c.OK || !strings.Contains(c.Detail, "not enough permissions") || !strings.Contains(c.Fix, "write") {
			t.Fatalf("dead-man check: %+v", c)
		}
		for _, menu := range []string{"/system/script/print", "/system/scheduler/print"} {
			if rows, _, _ := sim.Exec(menu); len(rows) != 0 {
				t.Fatalf("%s after a failed round trip: %v", menu, rows)
			}
		}
	})
	t.Run("pin", func(t *testing.T) {
		_, addr, fp := tlsSim(t, "7.22.3")
		wrong := strings.Repeat("00", 32)
		conn := Conn{Address: addr, Username: "admin", TLS: true, Fingerprint: wrong, Timeout: 5 * time.Second}
		checks := Doctor(ctx, conn, defconfSite(t, "7.22.3"), "home", DoctorOptions{})
		c := find(checks, "tls")
		if c == nil || c.OK || !strings.Contains(strings.ReplaceAll(c.Fix, ":", ""), strings.ToUpper(fp)) {
			t.Fatalf("tls check with a wrong pin: %+v", c)
		}
		if find(checks, "login") != nil {
			t.Fatal("doctor logged in through an unverified certificate")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		checks := Doctor(ctx, Conn{Address: addr, Username: "admin", Timeout: time.Second}, defconfSite(t, "7.22.3"), "home", DoctorOptions{})
		if len(checks) != 1 || checks[0].Name != "reach" || checks[0].OK || checks[0].Fix == "" {
			t.Fatalf("unreachable: %+v", checks)
		}
	})
	t.Run("stale and version and clock", func(t *testing.T) {
		sim, addr, fp := tlsSim(t, "7.18")
		sim.Exec("/ip/route/add", "=dst-address=10.77.0.0/16", "=blackhole=", "=comment=tether: gone")
		n := defconfSite(t, "7.22.3")
		n.Sites["home"].Addresses = nil
		conn := Conn{Address: addr, Username: "admin", TLS: true, Fingerprint: fp, Timeout: 5 * time.Second}
		checks := Doctor(ctx, conn, n, "home", DoctorOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
		if c := find(checks, "owned items"); c == nil || c.OK || !strings.Contains(c.Detail, "10.77.0.0/16") {
			t.Fatalf("owned items check: %+v", c)
		}
		if c := find(checks, "version"); c == nil || c.OK || !strings.Contains(c.Fix, `routeros_version = "7.18"`) {
			t.Fatalf("version check: %+v", c)
		}
		if c := find(checks, "clock"); c == nil || c.OK || !strings.Contains(c.Detail, "behind") || !strings.Contains(c.Fix, "ntp") {
			t.Fatalf("clock check: %+v", c)
		}
	})
}
