package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {10, 1}, {50, 5}, {90, 9}, {99, 10}, {100, 10}} {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if ds[0] != 5 {
		t.Errorf("percentile sorted its input")
	}
	if got := medianF([]float64{3, 1, 2, 4}); got != 2.5 {
		t.Errorf("medianF = %v, want 2.5", got)
	}
	if percentile(nil, 50) != 0 || medianF(nil) != 0 {
		t.Errorf("empty input must give 0")
	}
}
