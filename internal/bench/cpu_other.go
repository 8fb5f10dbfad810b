//go:build !unix

package bench

import "time"

// ProcessCPU is not measured here: the CPU column reads 0.
func ProcessCPU() time.Duration { return 0 }
