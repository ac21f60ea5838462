package rossim

import (
	"strings"
	"testing"
	"time"
)

// leastPrivilege is the group docs/routeros.md sets up for tether.
var leastPrivilege = Config{User: "tether", Password: "pw", Group: "tether", GroupPolicy: "api,read,write,test"}

func TestUsersAndGroupsPrintAsRouterOS7(t *testing.T) {
	s, _ := newSim(t, leastPrivilege)
	c := client(t, s) // admin is always there, as on a fresh router
	r := run(t, c, "/user/group/print", "=.proplist=name,policy,skin")
	got := map[string]string{}
	for _, row := range rows(r) {
		got[row["name"]] = row["policy"]
		if row["skin"] != "default" {
			t.Errorf("group %s skin %q", row["name"], row["skin"])
		}
	}
	want := map[string]string{
		"read":   "local,telnet,ssh,reboot,read,test,winbox,password,web,sniff,sensitive,api,romon,rest-api,!ftp,!write,!policy",
		"write":  "local,telnet,ssh,reboot,read,write,test,winbox,password,web,sniff,sensitive,api,romon,rest-api,!ftp,!policy",
		"full":   "local,telnet,ssh,ftp,reboot,read,write,policy,test,winbox,password,web,sniff,sensitive,api,romon,rest-api",
		"tether": "read,write,test,api,!local,!telnet,!ssh,!ftp,!reboot,!policy,!winbox,!password,!web,!sniff,!sensitive,!romon,!rest-api",
	}
	for name, p := range want {
		if got[name] != p {
			t.Errorf("group %s policy\n got %q\nwant %q", name, got[name], p)
		}
	}
	r = run(t, c, "/user/print", "?name=tether")
	u := rows(r)
	if len(u) != 1 || u[0]["group"] != "tether" || u[0]["disabled"] != "false" || u[0][".id"] == "" {
		t.Fatalf("user row %v", u)
	}
	if _, ok := u[0]["password"]; ok {
		t.Errorf("password printed: %v", u[0])
	}
	// Both API sessions show in /user/active, via api.
	if _, err := dial(t, s, "tether", "pw"); err != nil {
		t.Fatal(err)
	}
	u = rows(run(t, c, "/user/print", "?name=tether", "=.proplist=last-logged-in"))
	if _, err := time.Parse("2006-01-02 15:04:05", u[0]["last-logged-in"]); err != nil {
		t.Errorf("last-logged-in not ISO: %v", u[0])
	}
	r = run(t, c, "/user/active/print", "=.proplist=name,via,address,group")
	names := column(r, "name")
	if len(names) != 2 || !strings.Contains(strings.Join(names, ","), "tether") || r.Re[0].Map["via"] != "api" || r.Re[0].Map["address"] != "127.0.0.1" {
		t.Fatalf("active sessions %v", rows(r))
	}
}

func TestLoginNeedsUserPasswordAndAPIPolicy(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	run(t, c, "/user/group/add", "=name=noapi", "=policy=read,write,ssh")
	run(t, c, "/user/add", "=name=ops", "=group=noapi", "=password=x")
	run(t, c, "/user/add", "=name=ro", "=group=read", "=password=y")
	run(t, c, "/user/add", "=name=far", "=group=full", "=password=z", "=address=192.0.2.0/24")
	for _, tc := range []struct{ user, pass string }{{"ops", "x"}, {"ro", "wrong"}, {"nobody", ""}, {"far", "z"}} {
		if _, err := dial(t, s, tc.user, tc.pass); err == nil || !strings.Contains(err.Error(), "invalid user name or password (6)") {
			t.Errorf("login %s: %v, want refusal", tc.user, err)
		}
	}
	if _, err := dial(t, s, "ro", "y"); err != nil {
		t.Errorf("read user: %v", err)
	}
	run(t, c, "/user/set", "=numbers=far", "=address=127.0.0.0/8")
	if _, err := dial(t, s, "far", "z"); err != nil {
		t.Errorf("user from an allowed address: %v", err)
	}
	if msg := trapMsg(t, c, "/user/group/remove", "=numbers=full"); msg != "failure: can not remove builtin item" {
		t.Errorf("remove builtin group: %q", msg)
	}
}

func TestReadGroupCannotWrite(t *testing.T) {
	s, _ := newSim(t, Config{User: "viewer", Password: "v", Group: "read"})
	c, err := dial(t, s, "viewer", "v")
	if err != nil {
		t.Fatal(err)
	}
	run(t, c, "/ip/address/print")
	for _, words := range [][]string{
		{"/ip/address/add", "=address=10.9.9.1/24", "=interface=ether1"},
		{"/ip/address/set", "=.id=*1", "=comment=x"},
		{"/ip/address/remove", "=.id=*1"},
		{"/system/script/add", "=name=x", "=source="},
	} {
		if msg := trapMsg(t, c, words...); msg != "not enough permissions (9)" {
			t.Errorf("%v: %q", words, msg)
		}
	}
	// read includes test: ping works.
	run(t, c, "/tool/ping", "=address=192.168.88.1", "=count=1")
}

func TestLeastPrivilegeUserDoesWhatTetherDoes(t *testing.T) {
	s, clk := newSim(t, leastPrivilege)
	c, err := dial(t, s, "tether", "pw")
	if err != nil {
		t.Fatal(err)
	}
	// Reads, writes, moves and pings of docs/routeros.md.
	run(t, c, "/ip/route/print", "=.proplist=.id,dst-address")
	id := run(t, c, "/ip/address/add", "=address=10.1.1.1/24", "=interface=ether2", "=comment=tether: x").Done.Map["ret"]
	run(t, c, "/ip/address/set", "=.id="+id, "=comment=tether: y")
	run(t, c, "/ip/address/remove", "=.id="+id)
	run(t, c, "/tool/ping", "=address=192.168.88.1", "=count=1")
	// User management needs policy.
	if msg := trapMsg(t, c, "/user/group/set", "=numbers=tether", "=policy=api,read,write,test,policy"); msg != "not enough permissions (9)" {
		t.Errorf("widen own group: %q", msg)
	}
	if msg := trapMsg(t, c, "/user/add", "=name=x", "=group=full", "=password=x"); msg != "not enough permissions (9)" {
		t.Errorf("add user: %q", msg)
	}
	// A script may not carry more than its creator; without policy= it
	// gets the creator's script policies and owner.
	if msg := trapMsg(t, c, "/system/script/add", "=name=big", "=source=", "=policy=read,write,reboot"); msg != "not enough permissions (9)" {
		t.Errorf("script with reboot: %q", msg)
	}
	run(t, c, "/system/script/add", "=name=plain", "=source=")
	r := run(t, c, "/system/script/print", "?name=plain", "=.proplist=owner,policy")
	if got := rows(r)[0]; got["owner"] != "tether" || got["policy"] != "read,write,test" {
		t.Errorf("script defaults %v", got)
	}
	// The dead-man shape: script + one-shot scheduler, read,write,test.
	run(t, c, "/system/script/add", "=name=dm", "=policy=read,write,test",
		"=source=/ip address add address=10.2.2.1/24 interface=ether3 comment=\"dm ran\"\n/system scheduler remove [find where name=\"dm\"]\n")
	at := clk.Now().Add(5 * time.Second)
	run(t, c, "/system/scheduler/add", "=name=dm", "=on-event=dm", "=policy=read,write,test", "=interval=0",
		"=start-date="+at.Format("2006-01-02"), "=start-time="+at.Format("15:04:05"))
	s.Advance(6 * time.Second)
	runs := s.ScriptRuns()
	if len(runs) != 1 || runs[0].Err != nil {
		t.Fatalf("dead-man runs %+v", runs)
	}
	if r := run(t, c, "/ip/address/print", "?comment=dm ran"); len(r.Re) != 1 {
		t.Errorf("dead-man did not write")
	}
}

func TestSchedulerPolicies(t *testing.T) {
	s, clk := newSim(t, Config{})
	at := clk.Now().Add(3 * time.Second)
	date, tm := "=start-date="+at.Format("2006-01-02"), "=start-time="+at.Format("15:04:05")
	exec := func(words ...string) {
		t.Helper()
		if _, _, err := s.Exec(words...); err != nil {
			t.Fatalf("%v: %v", words, err)
		}
	}
	// A script asking for more than its scheduler has is refused.
	exec("/system/script/add", "=name=wide", "=source=/ip address add address=10.3.3.1/24 interface=ether3")
	exec("/system/scheduler/add", "=name=narrow", "=on-event=wide", "=policy=read,write", date, tm)
	// A read-only scheduler cannot write, even inline.
	exec("/system/scheduler/add", "=name=ro", "=on-event=/ip address add address=10.4.4.1/24 interface=ether3", "=policy=read", date, tm)
	// dont-require-permissions runs a script with its own policies.
	exec("/system/script/add", "=name=own", "=dont-require-permissions=yes", "=policy=read,write",
		"=source=/ip address add address=10.5.5.1/24 interface=ether3")
	exec("/system/scheduler/add", "=name=trusting", "=on-event=own", "=policy=read", date, tm)
	s.Advance(4 * time.Second)
	got := map[string]string{}
	for _, r := range s.ScriptRuns() {
		got[r.Name] = "ok"
		if r.Err != nil {
			got[r.Name] = r.Err.Error()
		}
	}
	if !strings.Contains(got["wide"], "not enough permissions (9)") {
		t.Errorf("wide script under a narrow scheduler: %q", got["wide"])
	}
	if !strings.Contains(got["scheduler:ro"], "not enough permissions (9)") {
		t.Errorf("read-only inline write: %q", got["scheduler:ro"])
	}
	if got["own"] != "ok" {
		t.Errorf("dont-require-permissions script: %q", got["own"])
	}
}

func TestPingNeedsTestPolicy(t *testing.T) {
	s, _ := newSim(t, Config{User: "tether", Password: "pw", Group: "notest", GroupPolicy: "api,read,write"})
	c, err := dial(t, s, "tether", "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"/tool/ping", "/ping"} {
		if msg := trapMsg(t, c, cmd, "=address=192.168.88.1", "=count=1"); msg != "not enough permissions (9)" {
			t.Errorf("%s without test: %q", cmd, msg)
		}
	}
	run(t, c, "/ip/address/add", "=address=10.1.1.1/24", "=interface=ether2")
}
