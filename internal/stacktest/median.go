package stacktest

import "sort"

// Median is the middle of a benchmark's samples (the upper one of an even
// count): benchmarks on shared machines report it, as one sample is noise.
func Median(xs []float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
