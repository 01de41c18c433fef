package agentsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// CRP error codes the agent reports (azurelinuxagent/common/exception.py).
const (
	CodeSuccess         = 0
	CodeGeneric         = 1000 // PluginProcessingError (uninstall)
	CodeManifestMissing = 1002
	CodeManifestBad     = 1003
	CodeInstallFailed   = 1007
	CodeUpdateFailed    = 1008
	CodeEnableFailed    = 1009
	CodeDisableFailed   = 1010
	CodeTimeout         = 1011
	CodeStatusInvalid   = 1012
)

// verbSpec is the agent's launch_command arguments per verb.
type verbSpec struct {
	timeout time.Duration
	code    int
}

var verbSpecs = map[Verb]verbSpec{
	VerbInstall:   {900 * time.Second, CodeInstallFailed},
	VerbUpdate:    {900 * time.Second, CodeUpdateFailed},
	VerbEnable:    {300 * time.Second, CodeEnableFailed},
	VerbDisable:   {900 * time.Second, CodeDisableFailed},
	VerbUninstall: {300 * time.Second, CodeGeneric},
}

// Agent constants.
const (
	// WireServer is the wire protocol endpoint the agent advertises.
	WireServer = "168.63.129.16"
	// SupportedFeatures is AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES
	// (json.dumps of the agent's feature list).
	SupportedFeatures = `[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]`
	// NotRun is the value of the *_EXIT_CODE variables when no command ran.
	NotRun = "NOT_RUN"
	// maxOutput is TELEMETRY_MESSAGE_MAX_LEN.
	maxOutput = 3200
)

// envVar is one agent-set variable; order matters for the log line.
type envVar struct{ Key, Value string }

// execResult is what one launch_command produced.
type execResult struct {
	ExitCode int // process exit code; -1 when killed on timeout
	TimedOut bool
	Output   string // formatted [stdout]/[stderr] tail
	Duration time.Duration
	Command  string // full command line
	Err      error  // failure to start
}

// launch runs cmd for in like the agent's launch_command: /bin/sh -c with
// cwd = base dir, a new session, the agent variables under the inherited
// environment, output captured to unlinked temp files in the base dir, the
// process group SIGKILLed on timeout.
func (s *Simulator) launch(ctx context.Context, in instance, verb Verb, cmdline string, seq int, extra []envVar) execResult {
	base := in.baseDir()
	// os.path.join(base_dir, cmd.lstrip("/")): no cleaning of the path.
	full := base + "/" + strings.TrimLeft(cmdline, "/")
	vars := append([]envVar{}, extra...)
	vars = append(vars,
		envVar{"AZURE_GUEST_AGENT_EXTENSION_PATH", base},
		envVar{"AZURE_GUEST_AGENT_EXTENSION_VERSION", in.version},
		envVar{"AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS", s.opt.WireServer},
		envVar{"ConfigSequenceNumber", fmt.Sprint(seq)},
		envVar{"AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES", SupportedFeatures},
	)
	s.logExec(in, fmt.Sprintf("Executing command: %s with environment variables: %s", full, envJSON(vars)))

	res := execResult{Command: full}
	stdout, err1 := unlinkedTemp(base)
	stderr, err2 := unlinkedTemp(base)
	defer closeAll(stdout, stderr)
	if err := errors.Join(err1, err2); err != nil {
		res.ExitCode, res.Err = -1, err
		return res
	}
	cmd := exec.Command("/bin/sh", "-c", full)
	cmd.Dir = base
	cmd.Env = mergeEnv(vars, s.environ())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	timeout := s.timeout(verb)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		res.ExitCode, res.Err = -1, fmt.Errorf("Failed to launch '%s': %w", full, err)
		return res
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var werr error
	select {
	case werr = <-done:
		// The agent sleeps one second after the exit "to give the child
		// process (if any) a chance to start".
		sleepCtx(ctx, time.Duration(float64(time.Second)*s.opt.TimeoutScale))
	case <-timer.C:
		res.TimedOut = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		res.ExitCode, res.Err = -1, ctx.Err()
	}
	res.Duration = time.Since(start)
	res.Output = readOutput(stdout, stderr)
	switch {
	case res.Err != nil:
	case res.TimedOut:
		res.ExitCode = -1
	default:
		res.ExitCode = exitCode(cmd.ProcessState, werr)
		if res.ExitCode == 0 {
			var lines []string
			for _, l := range strings.Split(res.Output, "\n") {
				if l != "" {
					lines = append(lines, l)
				}
			}
			s.logExec(in, fmt.Sprintf("Command: %s\n%s", cmdline, strings.Join(lines, "\n")))
		}
	}
	return res
}

// timeout is the agent's timeout for verb, scaled, or the override.
func (s *Simulator) timeout(verb Verb) time.Duration {
	if d, ok := s.opt.Timeouts[verb]; ok {
		return d
	}
	return time.Duration(float64(verbSpecs[verb].timeout) * s.opt.TimeoutScale)
}

// exitCode mirrors Popen.returncode: the exit status, or -signal.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return ps.ExitCode()
}

// environ is the simulator's own environment plus Options.Env.
func (s *Simulator) environ() []string {
	env := []string{}
	if !s.opt.NoInheritEnv {
		env = append(env, os.Environ()...)
	}
	return append(env, s.opt.Env...)
}

// mergeEnv puts the inherited environment on top of the agent variables,
// as the agent's env.update(os.environ) does.
func mergeEnv(vars []envVar, inherited []string) []string {
	m := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := m[k]; !ok {
			order = append(order, k)
		}
		m[k] = v
	}
	for _, v := range vars {
		set(v.Key, v.Value)
	}
	for _, kv := range inherited {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+m[k])
	}
	return out
}

// envJSON renders the agent variables as Python's json.dumps(dict).
func envJSON(vars []envVar) string {
	var b bytes.Buffer
	b.WriteString("{")
	for i, v := range vars {
		if i > 0 {
			b.WriteString(", ")
		}
		pyString(&b, v.Key)
		b.WriteString(": ")
		pyString(&b, v.Value)
	}
	b.WriteString("}")
	return b.String()
}

func unlinkedTemp(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "tmp")
	if err != nil {
		return nil, fmt.Errorf("output capture file: %w", err)
	}
	_ = os.Remove(f.Name()) // like tempfile.TemporaryFile
	return f, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// readOutput is the agent's read_output: the first 3200 bytes of each
// stream, decoded with backslashreplace, then format_stdout_stderr.
func readOutput(stdout, stderr *os.File) string {
	read := func(f *os.File) (string, error) {
		buf := make([]byte, maxOutput)
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return "", err
		}
		return backslashReplace(buf[:n]), nil
	}
	o, err1 := read(stdout)
	e, err2 := read(stderr)
	if err := errors.Join(err1, err2); err != nil {
		return FormatOutput("", "Cannot read stdout/stderr: "+err.Error())
	}
	return FormatOutput(o, e)
}

// backslashReplace decodes UTF-8, writing undecodable bytes as \xNN.
func backslashReplace(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(&sb, `\x%02x`, b[0])
			b = b[1:]
			continue
		}
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}

// FormatOutput is the agent's format_stdout_stderr: "[stdout]\n%s\n\n[stderr]\n%s",
// keeping the tail of each stream and giving spare room to the larger one,
// lengths counted in characters.
func FormatOutput(stdout, stderr string) string {
	const tmpl = "[stdout]\n%s\n\n[stderr]\n%s"
	const templateLen = len("[stdout]\n{0}\n\n[stderr]\n{1}")
	maxEach := (maxOutput - templateLen + 6) / 2
	o, e := []rune(stdout), []rune(stderr)
	tail := func(r []rune, n int) string {
		if n <= 0 || n >= len(r) {
			// Python's s[-0:] is the whole string.
			return string(r)
		}
		return string(r[len(r)-n:])
	}
	switch {
	case len(o)+len(e) < maxOutput:
		return fmt.Sprintf(tmpl, stdout, stderr)
	case len(o) < maxEach:
		bonus := maxEach - len(o)
		return fmt.Sprintf(tmpl, stdout, tail(e, min(maxEach+bonus, len(e))))
	case len(e) < maxEach:
		bonus := maxEach - len(e)
		return fmt.Sprintf(tmpl, tail(o, min(maxEach+bonus, len(o))), stderr)
	default:
		return fmt.Sprintf(tmpl, tail(o, maxEach), tail(e, maxEach))
	}
}

// logExec appends a line to CommandExecution.log in the agent's logger
// format.
func (s *Simulator) logExec(in instance, msg string) {
	if err := os.MkdirAll(s.opt.LogDir, 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(s.opt.LogDir, "CommandExecution.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	fmt.Fprintf(f, "%s INFO ExtHandler [%s-%s] %s\n", ts, s.opt.HandlerName, in.version, asciiBackslash(msg))
}

// asciiBackslash mirrors the logger's encode('ascii', 'backslashreplace').
func asciiBackslash(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			sb.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			fmt.Fprintf(&sb, `\U%08x`, r)
		}
	}
	return sb.String()
}
