package system

import (
	"os"
	"runtime/debug"
)

// A command waits on a few round trips and one fsync, about 2 ms; a
// garbage collection cycle in the same process takes 10-15 ms of its two
// cores' time, and every command it overlaps is slower by it. With Go's
// default (GOGC=100: a cycle each time the heap grows by what it holds)
// the embedded default ran a cycle every 100-200 commands on a 50-fact
// episode and one command in 20 met one: the p99 was 4.3-5.8 ms where it
// was 2.8 ms with no collection at all (BenchmarkAtVolume). So crisisbus
// lets the heap grow by four times what it holds before collecting.

// GCPercent is the garbage collector's target crisisbus runs with
// (runtime/debug.SetGCPercent), unless GOGC is set.
const GCPercent = 400

// TuneGC sets the garbage collector's target to GCPercent, unless the
// operator set GOGC, and returns the target now in force and a function
// that puts back the one before. The heap then peaks at about five times
// what it holds (BenchmarkAtVolume prints both at each size); on a small
// machine GOMEMLIMIT bounds it (the collector then runs sooner when near
// the limit).
func TuneGC() (percent int, restore func()) {
	if os.Getenv("GOGC") != "" {
		before := debug.SetGCPercent(-1)
		debug.SetGCPercent(before)
		return before, func() {}
	}
	before := debug.SetGCPercent(GCPercent)
	return GCPercent, func() { debug.SetGCPercent(before) }
}
