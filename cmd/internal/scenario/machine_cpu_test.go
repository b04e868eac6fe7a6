package scenario

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  1000 20 300 5000 400 5 75 100 999 999\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	got, err := parseBusy(stat)
	if err != nil {
		t.Fatal(err)
	}
	// 1000+20+300+5+75+100 ticks of 10 ms: idle, iowait and the guest
	// columns (in user and nice already) left out.
	if want := 15 * time.Second; got != want {
		t.Fatalf("busy %v, want %v", got, want)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8"} {
		if _, err := parseBusy(bad); err == nil {
			t.Errorf("parseBusy(%q): no error", bad)
		}
	}
}

func TestMachineWindow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/stat is Linux's")
	}
	end := machineWindow()
	// Keep one core busy for 200 ms of this process's CPU: the machine's
	// busy time must count at least most of it (its ticks are 10 ms).
	var sink int
	for start := processCPU(t); processCPU(t)-start < 200*time.Millisecond; {
		sink += len(strings.Repeat("x", 64))
	}
	m := end()
	if !m.Measured() {
		t.Fatal("no reading of /proc/stat")
	}
	if m.Busy < 150*time.Millisecond || m.Cores != runtime.NumCPU() || m.Share() > 1.05 || m.Share() <= 0 {
		t.Fatalf("implausible window (%d): %+v, share %.2f", sink, m, m.Share())
	}
}

// processCPU is this process's CPU time so far.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
