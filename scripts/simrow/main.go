// Command simrow turns one `nexusd-sim swarm --json` summary on stdin into a
// row of the simulator table in BENCHMARKS.md.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	var s struct {
		Nodes       int     `json:"nodes"`
		Faults      string  `json:"faults"`
		Virtual     float64 `json:"virtual_time_ms"`
		Wall        float64 `json:"wall_time_ms"`
		Events      uint64  `json:"events"`
		AfterChange float64 `json:"convergence_after_change_ms"`
		Fetches     uint64  `json:"fetches_per_change"`
		AfterHeal   float64 `json:"convergence_after_heal_ms"`
		OK          bool    `json:"ok"`
		Failure     string  `json:"failure"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		fmt.Fprintln(os.Stderr, "simrow:", err)
		os.Exit(1)
	}
	result := "ok"
	if !s.OK {
		result = "FAIL: " + s.Failure
	}
	heal := "-" // nothing to heal from
	if s.Faults != "none" {
		heal = fmt.Sprintf("%.0f ms", s.AfterHeal)
	}
	fmt.Printf("| %d | %s | %.0f s | %.1f s | %d | %s | %.0f ms | %d | %s |\n",
		s.Nodes, s.Faults, s.Virtual/1000, s.Wall/1000, s.Events, heal, s.AfterChange, s.Fetches, result)
}
