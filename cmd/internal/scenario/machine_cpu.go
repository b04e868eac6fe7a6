package scenario

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The machine's CPU over a burst: every process's and the kernel's, so
// that a figure measured on a shared machine says how busy the machine
// was. On etcd the three members, the generator and jitbot share the
// cores, and how busy they keep them decides the ack's tail more than any
// one request's cost.

// clockTicks is the unit of /proc/stat's times: USER_HZ, 100 on every
// architecture Linux runs Go on (the kernel fixes it for user space,
// whatever its own tick).
const clockTicks = 100

// machineBusy is the time the machine's CPUs spent busy since boot (all
// but idle and iowait), read from /proc/stat.
func machineBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBusy(string(raw))
}

// parseBusy reads the first line of /proc/stat: "cpu" then user, nice,
// system, idle, iowait, irq, softirq, steal, ... in clock ticks. Guest
// time is counted in user and nice already, so the columns after steal
// are left out.
func parseBusy(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: not a cpu line: %q", line)
	}
	var busy int64
	for i, col := range f[1:9] {
		n, err := strconv.ParseInt(col, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: column %d: %w", i+1, err)
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// MachineCPU is the machine's busy CPU time over a window; the zero value
// where it could not be read (not Linux).
type MachineCPU struct {
	Busy, Window time.Duration
	Cores        int
}

// Measured says the window was read.
func (m MachineCPU) Measured() bool { return m.Cores > 0 }

// Share is how busy the machine's cores were over the window (0 to 1).
func (m MachineCPU) Share() float64 {
	if m.Window <= 0 || m.Cores == 0 {
		return 0
	}
	return m.Busy.Seconds() / (m.Window.Seconds() * float64(m.Cores))
}

// machineWindow measures the machine's busy CPU from now until its end
// is called (the zero MachineCPU where /proc/stat cannot be read).
func machineWindow() (end func() MachineCPU) {
	start := time.Now()
	b0, err0 := machineBusy()
	return func() MachineCPU {
		b1, err1 := machineBusy()
		if errors.Join(err0, err1) != nil {
			return MachineCPU{}
		}
		return MachineCPU{Busy: b1 - b0, Window: time.Since(start), Cores: runtime.NumCPU()}
	}
}
