package main

import (
	"strings"
	"testing"
)

func TestParseReadsEveryUnitOfABenchmarkLine(t *testing.T) {
	out := `goos: linux
BenchmarkOutageWrongKeyOneEnded-2   	       8	 170060668 ns/op	        16.00 outage-sim-s	 8183126 B/op	  116687 allocs/op
BenchmarkLoadNetwork/git-2         	       4	 300000000 ns/op
BenchmarkLoadNetwork/dir-2         	       4	 250000000 ns/op
PASS
`
	res, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := res.get("BenchmarkOutageWrongKeyOneEnded", "outage-sim-s"); !ok || v != 16 {
		t.Fatalf("outage-sim-s = %v, %v", v, ok)
	}
	if v, ok := res.get("BenchmarkOutageWrongKeyOneEnded", "allocs/op"); !ok || v != 116687 {
		t.Fatalf("allocs/op = %v, %v", v, ok)
	}
	load := rows[len(rows)-1]
	if now, ok := load.now(res); !ok || now != "1.20× (300 ms vs 250 ms)" {
		t.Fatalf("load row: %q %v", now, ok)
	}
	if _, ok := rows[0].now(results{}); ok {
		t.Fatal("a row whose benchmark did not run must say so")
	}
}
