package distros

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// verifyWiring checks what the aadsshlogin package scripts should have
// done (RPM ignores scriptlet failures, and pam-auth-update may refuse):
// `aad` in nsswitch.conf, pam_aad in a PAM file, aad_certhandler in the
// sshd configuration, and an sshd that accepts the result: `sshd -T`
// makes every check `sshd -t` makes (it loads the configuration and host
// keys the same way) and also prints the effective configuration, which
// goes to res.SSHD for the sshd pitfall check.
//
// Only a failure sshd attributes to its configuration is exit 57. sshd
// stopping on host state (no /run/sshd before sshd first starts, no host
// keys yet) happens after it parsed the configuration, so it becomes a
// note; any other failure a warning (precheck.ClassifySSHDTestFailure).
func (in *Installer) verifyWiring(ctx context.Context, res *Result) error {
	var missing []string
	if !in.nsswitchHasAAD() {
		cause := "nsswitch.conf is managed by another tool"
		if in.Platform.Manager == release.Dnf {
			cause = "authselect manages nsswitch.conf (check `authselect current`)"
		}
		missing = append(missing, "`aad` in the passwd/group lines of /etc/nsswitch.conf ("+cause+")")
	}
	if !in.anyFileHas("/etc/pam.d", "", "pam_aad") {
		cause := "a PAM configuration tool rejected the change"
		if in.Platform.Manager == release.Apt {
			cause = "pam-auth-update refuses to change locally modified /etc/pam.d/common-* files; run `pam-auth-update --package`, accept, " + failure.SetAgain
		}
		missing = append(missing, "pam_aad in /etc/pam.d ("+cause+")")
	}
	if !in.fileHas("/etc/ssh/sshd_config", "aad_certhandler") && !in.anyFileHas("/etc/ssh/sshd_config.d", ".conf", "aad_certhandler") {
		missing = append(missing, "the aad_certhandler AuthorizedKeysCommand in /etc/ssh/sshd_config (the file may be read-only or rewritten by configuration management)")
	}
	if len(missing) > 0 {
		return failure.New(failure.NotWiredIn,
			"aadsshlogin is installed but not wired in; missing: %s. Fix the cause, then %s", strings.Join(missing, "; "), failure.Reinstall)
	}
	const flag = "-T"
	for _, p := range []string{"/usr/sbin/sshd", "/sbin/sshd"} {
		if !in.Root.Exists(p) {
			continue
		}
		out, err := in.runCmd(ctx, run.Cmd{Path: p, Args: []string{flag}})
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			switch precheck.ClassifySSHDTestFailure(out.Tail(4000)) {
			case precheck.SSHDConfigRejected:
				return failure.Wrap(failure.NotWiredIn, err,
					"sshd rejects its configuration after aadsshlogin was installed (sshd %s: %s); fix /etc/ssh/sshd_config (for example AllowGroups/Match blocks), "+failure.SetAgain, flag, out.Tail(tailBytes))
			case precheck.SSHDHostState:
				res.Notes = append(res.Notes, fmt.Sprintf(
					"sshd has not started yet (`sshd %s`: %s); it read its configuration without error before stopping there. "+
						"This is normal at first boot and with socket-activated ssh; Entra sign-in works once sshd runs", flag, out.Tail(300)))
			default:
				res.Warnings = append(res.Warnings, fmt.Sprintf(
					"`sshd %s` failed without naming a configuration line (%s); check the configuration with `sshd -t` once sshd runs", flag, out.Tail(300)))
			}
			res.SSHD.TestFailed = true
			return nil
		}
		res.SSHD.Test = &out
		return nil
	}
	return nil
}

func (in *Installer) nsswitchHasAAD() bool {
	data, err := in.Root.ReadFile("/etc/nsswitch.conf")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		db, srcs, ok := strings.Cut(l, ":")
		if !ok || (strings.TrimSpace(db) != "passwd" && strings.TrimSpace(db) != "group") {
			continue
		}
		for _, s := range strings.Fields(srcs) {
			if s == "aad" {
				return true
			}
		}
	}
	return false
}

func (in *Installer) fileHas(p, needle string) bool {
	data, err := in.Root.ReadFile(p)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "#") && strings.Contains(l, needle) {
			return true
		}
	}
	return false
}

func (in *Installer) anyFileHas(dir, suffix, needle string) bool {
	names, err := in.Root.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, n := range names {
		if strings.HasSuffix(n, suffix) && in.fileHas(dir+"/"+n, needle) {
			return true
		}
	}
	return false
}
