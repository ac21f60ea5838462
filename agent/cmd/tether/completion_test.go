package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	out, stderr, code := run(t, "completion", shell)
	if code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, code, stderr)
	}
	for name := range commands {
		if !strings.Contains(out, name) {
			t.Errorf("%s completion lacks command %s", shell, name)
		}
	}
	return out
}

func writeScript(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBashCompletion(t *testing.T) {
	script := completionScript(t, "bash")
	if !strings.Contains(script, `flags="--config --help"`) || !strings.Contains(script, `flags="--format -v --help"`) {
		t.Errorf("bash completion lacks status/validate flags:\n%s", script)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	p := writeScript(t, "tether.bash", script)
	if out, err := exec.Command(bash, "-n", p).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	// Drive the function the way readline does and read COMPREPLY back.
	complete := func(words ...string) string {
		t.Helper()
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + p + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_tether\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("tether", "st"); got != "status" {
		t.Errorf("tether st<TAB> = %q", got)
	}
	if got := complete("tether", "validate", "--f"); got != "--format" {
		t.Errorf("tether validate --f<TAB> = %q", got)
	}
	if got := complete("tether", "completion", ""); got != "bash zsh" {
		t.Errorf("tether completion <TAB> = %q", got)
	}
	if got := complete("tether", "status", "--config", ""); got != "" {
		t.Errorf("value of --config should fall back to files, got %q", got)
	}
}

func TestZshCompletion(t *testing.T) {
	script := completionScript(t, "zsh")
	if !strings.HasPrefix(script, "#compdef tether\n") {
		t.Error("zsh completion must start with #compdef for autoloading from $fpath")
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh not installed (apt-get install zsh to check the script's syntax)")
	}
	p := writeScript(t, "_tether", script)
	if out, err := exec.Command(zsh, "-n", p).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
}

func TestCompletionUsage(t *testing.T) {
	if _, _, code := run(t, "completion"); code != 2 {
		t.Errorf("no shell: exit %d", code)
	}
	if _, stderr, code := run(t, "completion", "fish"); code != 2 || !strings.Contains(stderr, "unsupported shell") {
		t.Errorf("fish: exit %d %q", code, stderr)
	}
}

func TestParseFlagDefaults(t *testing.T) {
	help := "Usage: tether x\n\nhelp\n\nFlags:\n  -config string\n    \tagent config file (default \"/etc/tether/agent.toml\")\n  -v\tbe verbose\n  -force\n    \treplace\n"
	got := parseFlagDefaults(help)
	if len(got) != 3 || got[0].name != "config" || !got[0].hasValue || got[1].name != "v" || got[1].hasValue ||
		got[2].name != "force" || got[2].usage != "replace" || got[0].usage != `agent config file (default "/etc/tether/agent.toml")` {
		t.Fatalf("%+v", got)
	}
}
