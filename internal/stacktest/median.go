package stacktest

import (
	"math"
	"sort"
)

// Median is the middle of a benchmark's samples (the upper one of an even
// count): benchmarks on shared machines report it, as one sample is noise.
func Median(xs []float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// Quantile is the q-quantile (0 < q ≤ 1) of the samples by nearest rank:
// the smallest sample that at least q of them do not exceed. With fewer
// than 1/(1-q) samples a high quantile is the largest sample, which is
// what a p99 of 40 latencies honestly is.
func Quantile(xs []float64, q float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
