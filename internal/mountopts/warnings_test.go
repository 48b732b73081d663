package mountopts

import (
	"strings"
	"testing"
)

// TestWarnings: iam with verify=0 and ocsp each get a warning; the same
// options otherwise do not.
func TestWarnings(t *testing.T) {
	for opts, want := range map[string][]string{
		"tls,iam,verify=0":      {`"iam" with "verify=0"`},
		"tls,iam":               nil,
		"tls,verify=0":          nil,
		"tls,ocsp":              {`"ocsp" is accepted for compatibility, but certificate revocation is not checked`},
		"tls,noocsp":            nil,
		"tls,iam,verify=0,ocsp": {`"iam" with "verify=0"`, `"ocsp" is accepted`},
	} {
		o, err := Parse(opts)
		if err != nil {
			t.Fatalf("Parse(%q): %v", opts, err)
		}
		got := o.Warnings()
		if len(got) != len(want) {
			t.Errorf("%s: warnings %q, want %d", opts, got, len(want))
			continue
		}
		for i := range want {
			if !strings.Contains(got[i], want[i]) {
				t.Errorf("%s: warning %q, want it to say %q", opts, got[i], want[i])
			}
		}
	}
}
