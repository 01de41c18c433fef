package precheck

import "strings"

// SSHDTestVerdict is what the output of a failed `sshd -t` or `sshd -T`
// says about the sshd configuration. It is the one classification used by
// the installer's wiring check (distros) and the sshd pitfall check.
type SSHDTestVerdict int

const (
	// SSHDConfigRejected: sshd names a line of its configuration ("… line
	// 3: Bad configuration option: X"): the configuration is broken.
	SSHDConfigRejected SSHDTestVerdict = iota + 1
	// SSHDHostState: sshd stopped on the machine's state, not on the
	// configuration: no privilege-separation directory (/run/sshd, created
	// when sshd starts: first boot, socket activation), no host keys yet,
	// or no privilege-separation user. OpenSSH parses the whole
	// configuration (and exits on its errors) before it checks these, so
	// the configuration passed parsing.
	SSHDHostState
	// SSHDUnexplained: anything else.
	SSHDUnexplained
)

// sshdHostStateErrors are sshd's fatal messages about host state
// (OpenSSH sshd.c), lower case.
var sshdHostStateErrors = [...]string{
	"missing privilege separation directory",
	"no hostkeys available",
	"privilege separation user",
}

// ClassifySSHDTestFailure classifies the output of a failed sshd test run.
func ClassifySSHDTestFailure(out string) SSHDTestVerdict {
	if namesConfigLine(out) {
		return SSHDConfigRejected
	}
	low := strings.ToLower(out)
	for _, m := range sshdHostStateErrors {
		if strings.Contains(low, m) {
			return SSHDHostState
		}
	}
	return SSHDUnexplained
}

// namesConfigLine reports whether sshd's error output points at a line of
// its configuration ("/etc/ssh/sshd_config: line 3: Bad configuration
// option: X", "/etc/ssh/sshd_config line 9: Directive 'X' is not allowed
// within a Match block").
func namesConfigLine(out string) bool {
	out = strings.ToLower(out)
	if strings.Contains(out, "bad configuration option") {
		return true
	}
	for i := 0; ; {
		j := strings.Index(out[i:], "line ")
		if j < 0 {
			return false
		}
		i += j + len("line ")
		if i < len(out) && out[i] >= '0' && out[i] <= '9' {
			return true
		}
	}
}
