// Package cpuprof starts a CPU profile of the process for the tools that
// offer one (nexusd-sim, the benchmark harness). It holds no state.
package cpuprof

import (
	"os"
	"runtime/pprof"
)

// Start profiles the process into the file at path until the returned
// function is called.
func Start(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
