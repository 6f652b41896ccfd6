package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// cpuUse is the CPU time, user and system, that a run's server processes
// and this process (its load generators: every publisher and subscriber
// of a measure run) had taken when it was read, as the kernel accounts
// it. A throughput run reads it after its warm-up and after its last
// delivery, and reports the difference per message delivered: what each
// side of the run spends on a message, beside the rate.
type cpuUse struct {
	servers, clients time.Duration
}

// userHZ is the unit of the times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go runs on.
const userHZ = 100

// cpuNow reads the CPU time taken so far by the processes pids and by
// this one.
func cpuNow(pids []int) (cpuUse, error) {
	var u cpuUse
	for _, pid := range pids {
		t, err := procCPU(pid)
		if err != nil {
			return cpuUse{}, err
		}
		u.servers += t
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuUse{}, fmt.Errorf("getrusage: %w", err)
	}
	u.clients = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return u, nil
}

// procCPU is the user and system time process pid has taken, every
// thread of it, from /proc/<pid>/stat (fields 14 and 15).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	t, err := statCPU(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return t, nil
}

// statCPU reads utime and stime out of the text of a /proc/<pid>/stat.
func statCPU(b []byte) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses: the fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// perMessage is the CPU from a to b in ns per message, for n messages.
func (b cpuUse) perMessage(a cpuUse, n int64) (servers, clients float64) {
	return float64(b.servers-a.servers) / float64(n), float64(b.clients-a.clients) / float64(n)
}
