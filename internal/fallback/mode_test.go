package fallback

import (
	"bufio"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

func TestChooseMode(t *testing.T) {
	cases := []struct {
		opts        string
		fuse, nfs   bool
		want        Mode
		wantReason  string
		wantErrPart string
	}{
		{"tls", true, true, ModeFUSE, "", ""},
		{"tls", true, false, ModeFUSE, "", ""},
		{"tls,fallback", true, true, ModeFallback, "requested", ""},
		{"tls,stunnel", true, true, ModeFallback, "requested", ""},
		{"tls,fallback", true, false, 0, "", "this kernel has none"},
		{"tls", false, true, ModeFallback, "FUSE is not available (no /dev/fuse); switching to fallback mode: the kernel NFS client through a local TLS tunnel", ""},
		{"notls", false, true, ModeFallback, "switching to fallback mode: the kernel NFS client, straight to the mount target (no TLS)", ""},
		{"fallback", true, true, ModeFallback, "requested (fallback option): using the kernel NFS client, straight", ""},
		{"tls", false, false, 0, "", "FUSE is not available (no /dev/fuse) and the kernel has no NFS client"},
	}
	for _, tc := range cases {
		o, err := mountopts.Parse(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		m, reason, err := ChooseMode(tc.fuse, tc.nfs, o)
		if m != tc.want || !strings.Contains(reason, tc.wantReason) || (tc.wantReason == "" && reason != "") {
			t.Errorf("ChooseMode(fuse=%v, nfs=%v, %q) = %v, %q", tc.fuse, tc.nfs, tc.opts, m, reason)
		}
		if tc.wantErrPart == "" && err != nil || tc.wantErrPart != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErrPart)) {
			t.Errorf("ChooseMode(fuse=%v, nfs=%v, %q) error = %v, want %q", tc.fuse, tc.nfs, tc.opts, err, tc.wantErrPart)
		}
	}
}

func TestListsNFS4(t *testing.T) {
	without := "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tfuse\n"
	with := without + "nodev\tnfs\nnodev\tnfs4\n"
	if listsNFS4(bufio.NewScanner(strings.NewReader(without))) {
		t.Error("nfs4 found where there is none")
	}
	if !listsNFS4(bufio.NewScanner(strings.NewReader(with))) {
		t.Error("nfs4 not found")
	}
}
