package bench

import (
	"math"
	"slices"
)

// quantile returns the q-quantile (0 <= q <= 1) of xs by the
// nearest-rank method, or NaN for no samples. xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median is the middle value (the lower middle for an even count, so that
// it is always a measured value).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// ratio is a/b, NaN when either is missing or b is zero.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// spread is (max-min)/median of xs: how far apart the runs of one
// measurement were, to judge the noise of a median.
func spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	return ratio(slices.Max(xs)-slices.Min(xs), median(xs))
}
