package precheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// rsaSHA2CertServerVersion is the first OpenSSH server that accepts the
// rsa-sha2-256/512-cert-v01@openssh.com signature algorithms (OpenSSH 7.8
// release notes). Older servers (RHEL/Oracle 7 ship 7.4p1) only take RSA
// certificates signed with SHA-1 ("ssh-rsa-cert-v01"), which OpenSSH 8.8+
// clients no longer offer by default (bugzilla.mindrot.org #3351), so
// `az ssh vm` from a current client is refused until the client re-enables it.
const rsaSHA2CertServerVersion = "7.8"

// OpenSSHVersion is a parsed "OpenSSH_7.4p1" banner.
type OpenSSHVersion struct {
	// Raw is the banner token, e.g. "OpenSSH_7.4p1".
	Raw   string
	Major int
	Minor int
	// Portable is the portable release number after 'p' (0 when absent).
	Portable int
}

// Less reports whether v is older than "major.minor" (an x.y string).
func (v OpenSSHVersion) Less(than string) bool {
	have, err := version.NewVersion(fmt.Sprintf("%d.%d", v.Major, v.Minor))
	if err != nil {
		return false
	}
	return have.LessThan(version.Must(version.NewVersion(than)))
}

var errNoOpenSSH = errors.New("no OpenSSH version in the output")

// ParseOpenSSHVersion finds the first "OpenSSH_<major>.<minor>[p<n>]" token in
// the output of `sshd -V` or `ssh -V` (both print to stderr, for example
// "OpenSSH_7.4p1, OpenSSL 1.0.2k-fips  26 Jan 2017" or
// "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5, OpenSSL 3.0.13 30 Jan 2024").
func ParseOpenSSHVersion(out string) (OpenSSHVersion, error) {
	const marker = "OpenSSH_"
	for rest := out; ; {
		i := strings.Index(rest, marker)
		if i < 0 {
			return OpenSSHVersion{}, errNoOpenSSH
		}
		rest = rest[i+len(marker):]
		major, n1 := leadingInt(rest)
		if n1 == 0 || n1 >= len(rest) || rest[n1] != '.' {
			continue
		}
		minor, n2 := leadingInt(rest[n1+1:])
		if n2 == 0 {
			continue
		}
		end := n1 + 1 + n2
		v := OpenSSHVersion{Major: major, Minor: minor}
		if end < len(rest) && rest[end] == 'p' {
			if p, n3 := leadingInt(rest[end+1:]); n3 > 0 {
				v.Portable = p
				end += 1 + n3
			}
		}
		v.Raw = marker + rest[:end]
		return v, nil
	}
}

// leadingInt parses up to 6 leading decimal digits; it returns the value and
// how many bytes it used (0: no digits).
func leadingInt(s string) (int, int) {
	n, v := 0, 0
	for n < len(s) && n < 6 && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}

// serverVersion asks sshd, then the ssh client (same source package on every
// supported distro), for the OpenSSH version. Both exit non-zero on old
// releases that lack -V but still print the banner, so output is parsed
// whatever the exit status.
func serverVersion(ctx context.Context, runner run.Runner) (OpenSSHVersion, bool) {
	for _, prog := range []string{"sshd", "ssh"} {
		res, _ := runner.Run(ctx, run.Cmd{Path: prog, Args: []string{"-V"}})
		if v, err := ParseOpenSSHVersion(string(res.Stderr) + "\n" + string(res.Stdout)); err == nil {
			return v, true
		}
	}
	return OpenSSHVersion{}, false
}

func oldOpenSSHWarning(v OpenSSHVersion) Warning {
	return Warning{
		Name: WarnOldOpenSSH,
		Message: fmt.Sprintf("the VM runs %s; OpenSSH servers older than %s do not accept RSA certificates signed with SHA-2, "+
			"and OpenSSH 8.8+ clients no longer offer the SHA-1 form, so Microsoft Entra sign-in from a current client is refused. "+
			"On the client, re-enable it: `az ssh vm -n <vm> -g <rg> -- -A -o \"PubkeyAcceptedKeyTypes= +ssh-rsa-cert-v01@openssh.com\"` "+
			"(or `PubkeyAcceptedKeyTypes +ssh-rsa-cert-v01@openssh.com` under `Host *` in ~/.ssh/config)",
			v.Raw, rsaSHA2CertServerVersion),
	}
}
