package bench

import (
	"fmt"
	"slices"
	"sort"
)

// medians merges the results of several rounds into one per workload and
// path, in the order of their first appearance: the round with the
// median value (the lower of the two middle ones for an even count),
// carrying every round's value. Failed rounds do not count, but are
// said in the note; a cell fails only if every round did. With one round
// the results come back as they are.
func medians(results []Result) []Result {
	type key struct{ workload, path string }
	var order []key
	byCell := map[key][]Result{}
	for _, r := range results {
		k := key{r.Workload, r.Path}
		if _, seen := byCell[k]; !seen {
			order = append(order, k)
		}
		byCell[k] = append(byCell[k], r)
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		rounds := byCell[k]
		if len(rounds) == 1 {
			out = append(out, rounds[0])
			continue
		}
		var ok []Result
		var failed []string
		for _, r := range rounds {
			if r.Error != "" {
				failed = append(failed, r.Error)
			} else {
				ok = append(ok, r)
			}
		}
		if len(ok) == 0 {
			out = append(out, rounds[0])
			continue
		}
		sort.SliceStable(ok, func(i, j int) bool { return ok[i].Value < ok[j].Value })
		m := ok[(len(ok)-1)/2]
		m.Rounds = nil
		for _, r := range rounds {
			if r.Error == "" {
				m.Rounds = append(m.Rounds, r.Value)
			}
		}
		if len(failed) > 0 {
			failed = slices.Compact(failed)
			m.Note = joinNote(m.Note, fmt.Sprintf("%d of %d rounds failed: %s", len(rounds)-len(ok), len(rounds), failed[0]))
		}
		out = append(out, m)
	}
	return out
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
