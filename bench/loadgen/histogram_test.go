package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketBoundsContainValue(t *testing.T) {
	values := []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, math.MaxInt64 / 3, math.MaxInt64}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, numBuckets)
		}
		hi := upperBound(i)
		lo := int64(0)
		if i > 0 {
			lo = upperBound(i-1) + 1
		}
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d,%d]", v, i, lo, hi)
		}
		if v > 0 && float64(hi-v)/float64(v) > 1.0/subCount {
			t.Errorf("value %d reported as %d: relative error %.4f over 1/%d", v, hi, float64(hi-v)/float64(v), subCount)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	for i := 1; i < numBuckets; i++ {
		if got := bucketOf(upperBound(i-1) + 1); got != i {
			t.Fatalf("value after bucket %d's upper bound %d lands in %d, want %d", i-1, upperBound(i-1), got, i)
		}
	}
}

func TestQuantilesMatchExactWithinError(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) int64
	}{
		{"uniform 1us-10ms", func(r *rand.Rand) int64 { return 1000 + r.Int64N(10_000_000) }},
		{"exponential mean 2ms", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 2e6) }},
		{"bimodal with 1s tail", func(r *rand.Rand) int64 {
			if r.IntN(1000) == 0 {
				return 1e9 + r.Int64N(1e8)
			}
			return 500_000 + r.Int64N(100_000)
		}},
		{"small integers", func(r *rand.Rand) int64 { return r.Int64N(200) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 7))
			h := NewHistogram()
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = tt.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
				exact := vals[rank-1]
				got := h.Quantile(q)
				if got < exact || float64(got-exact) > float64(exact)/subCount+1 {
					t.Errorf("q%.3f = %d, exact %d (allowed [exact, exact*(1+1/%d)])", q, got, exact, subCount)
				}
			}
			if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
				t.Errorf("min/max = %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count = %d, want %d", h.Count(), len(vals))
			}
		})
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 10_000 {
		v := r.Int64N(1e9)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	a.Merge(NewHistogram()) // merging an empty one changes nothing
	for _, q := range []float64{0.1, 0.5, 0.99, 0.9999} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%g: merged %d, direct %d", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Max() != all.Max() || a.Min() != all.Min() || math.Abs(a.Mean()-all.Mean()) > 1e-6*all.Mean() {
		t.Errorf("merged count/min/max/mean %d/%d/%d/%g, direct %d/%d/%d/%g",
			a.Count(), a.Min(), a.Max(), a.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestEmptyAndNegative(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram reports non-zero: q50 %d min %d max %d mean %g", h.Quantile(0.5), h.Min(), h.Max(), h.Mean())
	}
	h.Record(-5)
	if h.Count() != 1 || h.Quantile(1) != 0 {
		t.Fatalf("negative value: count %d q100 %d, want 1 and 0", h.Count(), h.Quantile(1))
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 7919)
	}
}
