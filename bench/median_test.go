package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestMedians(t *testing.T) {
	in := []Result{
		{Workload: "w", Path: "fuse", Value: 30, Ops: 3},
		{Workload: "w", Path: "client", Value: 5},
		{Workload: "w", Path: "fuse", Value: 10, Ops: 1},
		{Workload: "w", Path: "client", Error: "boom"},
		{Workload: "w", Path: "fuse", Value: 20, Ops: 2},
		{Workload: "w", Path: "client", Value: 7},
		{Workload: "x", Path: "fuse", Error: "down"},
		{Workload: "x", Path: "fuse", Error: "down"},
		{Workload: "y", Path: "fuse", Value: 1},
	}
	got := medians(in)
	if len(got) != 4 {
		t.Fatalf("%d cells, want 4: %+v", len(got), got)
	}
	// Odd count: the middle round, whole (its Ops too), with every value.
	if f := got[0]; f.Path != "fuse" || f.Value != 20 || f.Ops != 2 || !reflect.DeepEqual(f.Rounds, []float64{30, 10, 20}) {
		t.Errorf("fuse cell = %+v", f)
	}
	// A failed round does not count; even count: the lower middle.
	if c := got[1]; c.Value != 5 || c.Error != "" || !strings.Contains(c.Note, "1 of 3 rounds failed: boom") {
		t.Errorf("client cell = %+v", c)
	}
	if x := got[2]; x.Error != "down" {
		t.Errorf("all rounds failed: %+v", x)
	}
	if y := got[3]; y.Value != 1 || y.Rounds != nil {
		t.Errorf("one round: %+v", y)
	}
}
