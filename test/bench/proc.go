package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc describes one program run inside the VM chroot, started directly
// (chroot(2) in the child, no chroot(1) or shell in between).
type proc struct {
	Root string   // chroot directory ("" = none)
	Dir  string   // working directory inside the root
	Env  []string // full environment
	Argv []string // Argv[0] is an absolute path inside the root
}

// measure is what one run cost.
type measure struct {
	Wall time.Duration
	Exit int
	// MaxRSSKB is wait4's ru_maxrss: the largest of the process and of
	// every descendant it reaped (the kernel's RUSAGE_BOTH), in KiB.
	MaxRSSKB int64
	// HWMKB is VmHWM of the process itself, read when it stops at exit
	// under ptrace (0 when not traced).
	HWMKB int64
	// SelfCPU and ChildCPU are the user+system time of the process itself
	// and of the children it reaped, from /proc/<pid>/stat at exit (10 ms
	// ticks; only when traced).
	SelfCPU, ChildCPU time.Duration
	Output            string
}

func (p proc) cmd() *exec.Cmd {
	c := exec.Command(p.Argv[0], p.Argv[1:]...)
	c.Env, c.Dir = p.Env, p.Dir
	if p.Root != "" {
		c.SysProcAttr = &syscall.SysProcAttr{Chroot: p.Root}
	}
	return c
}

// run starts p without tracing and times it from fork to reaping.
func (p proc) run() (measure, error) {
	var out bytes.Buffer
	c := p.cmd()
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	err := c.Run()
	m := measure{Wall: time.Since(start), Output: out.String()}
	if c.ProcessState == nil {
		return m, err
	}
	m.Exit = c.ProcessState.ExitCode()
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.MaxRSSKB = ru.Maxrss
	}
	return m, nil
}

// traced runs p under ptrace with PTRACE_O_TRACEEXIT: when the process
// exits, its own VmHWM is read from /proc before the kernel releases its
// memory. Only the main thread is traced and children are not, so the
// figure is the handler's alone (wait4's ru_maxrss also counts reaped
// children such as apt-get).
func (p proc) traced() (measure, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	outF, err := os.CreateTemp("", "bench-out-")
	if err != nil {
		return measure{}, err
	}
	defer os.Remove(outF.Name())
	defer outF.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return measure{}, err
	}
	defer devnull.Close()
	attr := &syscall.ProcAttr{
		Dir: p.Dir, Env: p.Env,
		Files: []uintptr{devnull.Fd(), outF.Fd(), outF.Fd()},
		Sys:   &syscall.SysProcAttr{Chroot: p.Root, Ptrace: true},
	}
	start := time.Now()
	pid, err := syscall.ForkExec(p.Argv[0], p.Argv, attr)
	if err != nil {
		return measure{}, fmt.Errorf("start %s: %w", p.Argv[0], err)
	}
	var m measure
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	first := true
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, &ru); err != nil {
			if err == syscall.EINTR {
				continue
			}
			return m, fmt.Errorf("wait4: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			break
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case first && sig == syscall.SIGTRAP:
			first = false
			if err := syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACEEXIT); err != nil {
				return m, fmt.Errorf("ptrace options: %w", err)
			}
			sig = 0
		case sig == syscall.SIGTRAP && ws.TrapCause() == syscall.PTRACE_EVENT_EXIT:
			m.HWMKB = vmHWM(pid)
			m.SelfCPU, m.ChildCPU = procCPU(pid)
			sig = 0
		}
		if err := syscall.PtraceCont(pid, int(sig)); err != nil {
			return m, fmt.Errorf("ptrace cont: %w", err)
		}
	}
	m.Wall = time.Since(start)
	m.MaxRSSKB = ru.Maxrss
	m.Exit = ws.ExitStatus()
	if ws.Signaled() {
		m.Exit = 128 + int(ws.Signal())
	}
	data, _ := os.ReadFile(outF.Name())
	m.Output = string(data)
	return m, nil
}

// vmHWM reads the peak resident set size (KiB) of pid.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseVmHWM(f)
}

func parseVmHWM(r interface{ Read([]byte) (int, error) }) int64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "VmHWM" {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}

// procCPU reads utime+stime and cutime+cstime of pid.
func procCPU(pid int) (self, children time.Duration) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	return ParseStatCPU(string(data))
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ParseStatCPU extracts the CPU times of a /proc/<pid>/stat line.
func ParseStatCPU(stat string) (self, children time.Duration) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return 0, 0
	}
	n := func(s string) time.Duration {
		v, err := strconv.ParseInt(s, 10, 64)
		// At most half of what a Duration holds, so the sum of two
		// fields cannot overflow (found by FuzzParseStatCPU).
		if err != nil || v < 0 || v > int64(math.MaxInt64/clockTick/2) {
			return 0
		}
		return time.Duration(v) * clockTick
	}
	return n(f[11]) + n(f[12]), n(f[13]) + n(f[14])
}
