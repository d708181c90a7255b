// Package bench measures what the function adds over the floor of a Go
// Lambda, figure by figure, each side by side with its floor in the same run
// (issue 7): cold start, warm handler cost, warm end-to-end latency, the calls
// that cost money, size and memory, and local-mode throughput.
//
// It holds only tests. `make bench` runs TestReport with full counts and
// writes tests/bench/results.md; `make test` runs the same machinery with tiny
// counts (and every Benchmark once), so the figures cannot rot. The warm
// handler benchmarks are ordinary testing.B benchmarks too:
//
//	cd tests && go test -run '^$' -bench Handler -benchmem ./bench
//
// Everything listens on 127.0.0.1 and every loop is bounded in requests and
// time.
package bench
