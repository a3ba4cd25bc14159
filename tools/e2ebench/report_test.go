package main

import "testing"

func TestMedianSustained(t *testing.T) {
	climb := func(rate float64) ladder {
		if rate == 0 {
			return ladder{Steps: []pushResult{{Rate: 500}}}
		}
		s := pushResult{Rate: int(rate), DeliveredPerSec: rate}
		return ladder{Steps: []pushResult{s}, Sustained: &s}
	}
	for _, c := range []struct {
		rates []float64
		want  float64
	}{
		{[]float64{2492}, 2492},
		{[]float64{0, 2492, 1497}, 1497}, // a climb ended by its first step counts 0
		{[]float64{0, 0, 2000}, 0},
		{[]float64{2500, 1000}, 1000}, // even: the lower middle
		{[]float64{3000, 2000, 2500, 1500}, 2000},
	} {
		var ls []ladder
		for _, r := range c.rates {
			ls = append(ls, climb(r))
		}
		if got := medianSustained(ls); got != c.want {
			t.Errorf("median of %v = %v, want %v", c.rates, got, c.want)
		}
	}
}
