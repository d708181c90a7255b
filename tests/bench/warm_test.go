package bench

import (
	"flag"
	"slices"
	"syscall"
	"testing"
	"time"
)

// warmFigures are figure 2's medians over alternating rounds.
type warmFigures struct {
	gateway, inFunction, bare, verify                         float64 // ns/op
	gatewayCPU                                                float64 // process CPU ns/op (user+system, all threads)
	gatewayMin                                                float64 // the fastest round's ns/op: other load on the machine only adds
	gatewayAllocs, inFunctionAllocs, bareAllocs, verifyAllocs int64
	ratio                                                     float64 // median of the rounds' inFunction/bare
}

// measureWarm runs the handler benchmarks through testing.Benchmark, rounds
// times in rotating order, each for benchtime (a -test.benchtime value).
func measureWarm(t testing.TB, rounds int, benchtime string) warmFigures {
	t.Helper()
	bt := flag.Lookup("test.benchtime")
	old := bt.Value.String()
	if err := bt.Value.Set(benchtime); err != nil {
		t.Fatal(err)
	}
	defer bt.Value.Set(old)

	benches := []func(*testing.B){BenchmarkHandlerGateway, BenchmarkHandlerInFunction, BenchmarkVerifyRS256Bare, BenchmarkVerifierVerify}
	ns := make([][]float64, len(benches))
	var gatewayCPU []float64
	allocs := make([]int64, len(benches))
	var ratios []float64
	for r := range rounds {
		this := make([]float64, len(benches))
		for j := range benches {
			i := (r + j) % len(benches)
			cpu0 := cpuTime()
			res := testing.Benchmark(benches[i])
			if i == 0 && res.N > 0 {
				// The CPU the process spent over the benchmark, per op (its
				// set-up included, so a slight overestimate).
				gatewayCPU = append(gatewayCPU, float64(cpuTime()-cpu0)/float64(res.N))
			}
			if res.N == 0 {
				t.Fatalf("benchmark %d failed", i)
			}
			this[i] = float64(res.T.Nanoseconds()) / float64(res.N)
			ns[i] = append(ns[i], this[i])
			allocs[i] = res.AllocsPerOp()
		}
		ratios = append(ratios, this[1]/this[2])
	}
	return warmFigures{
		gateway: medianF(ns[0]), inFunction: medianF(ns[1]), bare: medianF(ns[2]), verify: medianF(ns[3]),
		gatewayCPU:    medianF(gatewayCPU),
		gatewayMin:    slices.Min(ns[0]),
		gatewayAllocs: allocs[0], inFunctionAllocs: allocs[1], bareAllocs: allocs[2], verifyAllocs: allocs[3],
		ratio: medianF(ratios),
	}
}

// cpuTime is the user plus system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
