package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/internal/bench"
)

func init() {
	commands["bench"] = command{"measure publish→consume latency and throughput: raw JetStream against crisisbus, with ratios", cmdBench}
}

func cmdBench(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "bench", "[flags]")
	lat := fs.Int("latency-messages", 2000, "messages published one at a time for latency")
	thr := fs.Int("throughput-messages", 20000, "messages published pipelined for throughput")
	rounds := fs.Int("rounds", 3, "how many times each path is measured, taking turns; each figure is the median")
	only := fs.String("only", "", "measure only this path (\"raw JetStream\" or \"crisisbus\"), to profile it alone")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (server and both paths) to this `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "crisisbus-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer os.Remove(broker.DefaultStoreKeyFile(dir))
	stop, err := profileCPU(*cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	rs, err := bench.Run(ctx, dir, bench.Config{LatencyMessages: *lat, ThroughputMessages: *thr, Rounds: *rounds, Only: *only}, e.stderr)
	if err != nil {
		return err
	}
	bench.Print(e.stdout, rs)
	return nil
}

// profileCPU starts a CPU profile written to path ("": none); stop ends it
// and closes the file.
func profileCPU(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
