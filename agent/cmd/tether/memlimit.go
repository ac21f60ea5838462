package main

import (
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is the soft memory limit `tether run` gives the Go
// runtime unless GOMEMLIMIT is set. The idle agent of a 1,000-site network
// holds about 7 MB (the parsed network of the running commit, go-git's
// caches) and allocates about 120 KB per poll; without a limit the runtime
// lets the heap grow to twice what was live at the last collection and
// keeps what a network load left, so the idle RSS sits near 42 MB. At this
// limit it collects a little earlier (under a millisecond per poll) and
// returns memory sooner: 35 MB idle, 38 MB peak (BenchmarkAgentProcessIdle).
// A soft limit never fails an allocation; a network whose live heap nears
// it makes the runtime collect more often, at most half the CPU, so bigger
// networks set GOMEMLIMIT (docs/operations.md, "Memory").
const defaultMemoryLimit = 24 << 20

// limitMemory applies defaultMemoryLimit unless the environment sets one
// ("GOMEMLIMIT=off" turns it off).
func limitMemory() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
