package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// JitbotPackage is the jitbot command, for BuildJitbot.
const JitbotPackage = "github.com/jitbot/jitbot/cmd/jitbot"

// BuildJitbot builds the jitbot binary into dir with the go tool (which
// must be on PATH, run inside this module) and returns its path. race
// builds it with the race detector, for tests that run under it.
func BuildJitbot(ctx context.Context, dir string, race bool) (string, error) {
	exe := filepath.Join(dir, "jitbot")
	args := []string{"build", "-o", exe}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, JitbotPackage)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", JitbotPackage, err, out)
	}
	return exe, nil
}

// FreeAddr is a loopback address nothing listens on (yet), for a jitbot
// that must be found again after a restart, or that listens a moment
// later. It is taken from below the kernel's ephemeral ports (32768 and
// up on Linux), from a random start: a port that port 0 handed out and
// was let go may meanwhile be the local end of any outgoing connection
// (CI: TestScale's jitbot could not listen on its address).
func FreeAddr() (string, error) {
	const first, ports = 20000, 32768 - 20000
	start := rand.IntN(ports)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+(start+i)%ports))
		if err == nil {
			defer ln.Close()
			return ln.Addr().String(), nil
		}
	}
	return "", errors.New("rig: no free loopback port below the ephemeral range")
}

// Proc is `jitbot serve` as a child process.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

// Serve starts `exe serve -config configPath -log-format json`, with env
// added to this process's environment and its output to log, and waits
// until it answers /healthz at addr (the configuration's listen address),
// at most 30 seconds.
func Serve(ctx context.Context, exe, configPath, addr string, log io.Writer, env ...string) (*Proc, error) {
	p := &Proc{cmd: exec.Command(exe, "serve", "-config", configPath, "-log-format", "json"), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, err := HTTPGet(ctx, "http://"+addr+"/healthz"); err == nil && code == http.StatusOK {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("jitbot serve exited at start-up: %v", p.err)
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, errors.New("jitbot serve did not answer within 30s")
		}
	}
}

// Kill is kill -9, then waiting for the process to be gone. Killing a
// process that has exited already does nothing.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop is a graceful SIGTERM; it answers the exit status (nil for a clean
// exit), or an error when the process is still up 40 seconds later (it is
// killed then).
func (p *Proc) Stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(40 * time.Second):
		p.Kill()
		return errors.New("jitbot serve did not stop within 40s of SIGTERM")
	}
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process (SIGHUP: reload the policy).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// HTTPGet answers the status of a GET, draining the body.
func HTTPGet(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// TailFile is the end of a file, for failure reports.
func TailFile(path string, n int) string {
	raw, _ := os.ReadFile(path)
	return Tail(string(raw), n)
}
