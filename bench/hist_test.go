package bench

import (
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d > 0.07 || d < -0.07 {
			t.Errorf("quantile(%v) = %v, want %v within 7%%", tc.q, got, tc.want)
		}
	}
	var empty hist
	if empty.quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}

func TestHistBucketsMonotonic(t *testing.T) {
	prev := -1
	for ns := uint64(0); ns < 1<<20; ns += 7 {
		b := bucketOf(ns)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d < %d", ns, b, prev)
		}
		if mid := bucketMid(b); ns >= 16 && (mid < float64(ns)*0.9 || mid > float64(ns)*1.1) {
			t.Fatalf("bucketMid(bucketOf(%d)) = %v", ns, mid)
		}
		prev = b
	}
}
