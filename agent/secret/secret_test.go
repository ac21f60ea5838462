package secret

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ content, want string }{
		{"tok3n\n", "tok3n"},
		{"tok3n\r\n", "tok3n"},
		{"tok3n", "tok3n"},
		{" pass word \n\n", " pass word "},
	} {
		got, err := Read(write("s", tc.content))
		if err != nil || got != tc.want {
			t.Errorf("Read(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	if got, err := Read(""); got != "" || err != nil {
		t.Errorf("Read(\"\") = %q, %v; want no secret", got, err)
	}
	if got, err := Read(write("empty", "\n")); got != "" || err != nil {
		t.Errorf("Read(empty file) = %q, %v; want \"\"", got, err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok3n@git.example.test/net.git":         "https://git.example.test/net.git",
		"https://tok3n@git.example.test/net.git":              "https://git.example.test/net.git",
		"ssh://git:pw@host:2222/x.git":                        "ssh://host:2222/x.git",
		"git@host:net.git":                                    "git@host:net.git",
		"/srv/net.git":                                        "/srv/net.git",
		"fetch https://u:tok3n@h/x failed; retry https://h/y": "fetch https://h/x failed; retry https://h/y",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
