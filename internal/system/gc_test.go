package system

import (
	"runtime/debug"
	"testing"
)

func TestTheCollectorTargetIsCrisisbussUnlessTheOperatorSetGOGC(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	percent, restore := TuneGC()
	if percent != GCPercent || currentGCPercent() != GCPercent {
		t.Fatalf("without GOGC the target is %d (said %d), want %d", currentGCPercent(), percent, GCPercent)
	}
	restore()
	if currentGCPercent() != 100 {
		t.Fatalf("restored to %d, want the 100 before", currentGCPercent())
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // as the runtime read it at start
	percent, restore = TuneGC()
	defer restore()
	if percent != 150 || currentGCPercent() != 150 {
		t.Fatalf("with GOGC=150 the target is %d (said %d): the operator's setting was overridden", currentGCPercent(), percent)
	}
}

func currentGCPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}
