package bench

import (
	"math"
	"math/bits"
	"time"
)

// Latency histogram. Each operation's latency is counted in a bucket of
// a logarithmic scale with histSub sub-buckets per power of two, so a
// percentile is exact to within 1/histSub (about 6%) whatever the number
// of operations, and recording is an add: a 16-thread workload doing a
// million reads from the page cache records them all without allocating
// or sorting, which would otherwise show up in the figures it measures.
const (
	histSub     = 16
	histBuckets = 64 * histSub
)

// hist counts latencies. The zero value is ready; it is not safe for
// concurrent use (each worker keeps its own and they are merged).
type hist struct {
	counts [histBuckets]uint32
	n      uint64
	sum    time.Duration
}

// bucketOf maps a latency in ns to its bucket: the power of two, then
// the next log2(histSub) bits below the leading one.
func bucketOf(ns uint64) int {
	if ns < histSub {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 // ns in [2^exp, 2^(exp+1))
	shift := exp - 4          // log2(histSub) = 4
	frac := int((ns >> shift) & (histSub - 1))
	return (exp-3)*histSub + frac
}

// bucketMid is the middle of bucket b in ns, the value a percentile
// falling in it is reported as.
func bucketMid(b int) float64 {
	if b < histSub {
		return float64(b)
	}
	exp := b/histSub + 3
	frac := b % histSub
	lo := math.Ldexp(float64(histSub+frac), exp-4)
	width := math.Ldexp(1, exp-4)
	return lo + width/2
}

func (h *hist) add(d time.Duration) {
	ns := uint64(max(d, 0))
	h.counts[min(bucketOf(ns), histBuckets-1)]++
	h.n++
	h.sum += d
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the latency below which a fraction q of operations
// finished (0 with no operations).
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return time.Duration(bucketMid(b))
		}
	}
	return time.Duration(bucketMid(histBuckets - 1))
}
