package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
)

func TestReadIAMCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := readIAMCredentials(write("ok", `# test keys
[default]
aws_access_key_id = AKIDEXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY

[other]
region = us-east-1
aws_access_key_id=AKIDOTHER
aws_secret_access_key=secret2
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["AKIDEXAMPLE"] != "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" || got["AKIDOTHER"] != "secret2" {
		t.Fatalf("credentials = %v", got)
	}
	for name, body := range map[string]string{
		"garbled": "[default]\naws_access_key_id\n",
		"empty":   "[default]\nregion = us-east-1\n",
		"no-key":  "[default]\naws_access_key_id = AKID\n",
	} {
		_, err := readIAMCredentials(write(name, body))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "wJalr") {
			t.Errorf("%s: error shows a secret: %v", name, err)
		}
	}
	if _, err := readIAMCredentials(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

// The identity flags reach the target's options.
func TestLocalTargetIdentityFlags(t *testing.T) {
	cmd := newLocalTargetCmd()
	if err := cmd.ParseFlags([]string{"--export", "/x", "--state", "/y", "--client-cert",
		"--require-access-point", "fsap-0123456789abcdef0", "--require-iam", "--iam-credentials", "/c"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"client-cert": "true", "require-access-point": "fsap-0123456789abcdef0", "require-iam": "true", "iam-credentials": "/c"} {
		if got := cmd.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
}

// TestFaultUnknownCommand: a wrong fault command lists the commands, one
// a line, without needing a running target.
func TestFaultUnknownCommand(t *testing.T) {
	h := newHarness(t)
	code := run(t.Context(), []string{"efs-fuse", "local-target", "fault", "--state", t.TempDir(), "blakhole", "20s"}, h.deps)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	got := h.stderr.String()
	want := "unknown command \"blakhole\"; commands:\n" + localtarget.ControlUsage + "\n"
	if got != want {
		t.Errorf("stderr\n got %q\nwant %q", got, want)
	}
}
