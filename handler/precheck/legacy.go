package precheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// agentLibDir is where the guest agent unpacks extension handlers, one folder
// per handler version named <publisher>.<type>-<version>.
const agentLibDir = "/var/lib/waagent"

// legacyHandlerGlobs match the handler folders of the old extension.
//
//   - "Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-*" is
//     verified: the legacy extension was published as publisher
//     Microsoft.Azure.ActiveDirectory.LinuxSSH, type AADLoginForLinux, and
//     public error reports show the folder
//     /var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.1588.3.
//   - "Microsoft.Azure.ActiveDirectory.AADLoginForLinux-*" is NOT verified
//     (no public trace found); it is accepted defensively in case the type
//     was ever published under the new publisher name.
//
// Neither pattern matches the new extension's folder
// (Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux-*).
var legacyHandlerGlobs = [...]string{
	"Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-*",
	"Microsoft.Azure.ActiveDirectory.AADLoginForLinux-*",
}

// legacyPackages are the packages the old extension installed.
var legacyPackages = [...]string{"aadlogin", "aadlogin-selinux"}

// LegacyHint carries the Azure names used to fill the removal command in the
// message. Empty fields are shown as placeholders (<rg>, <vm>).
type LegacyHint struct {
	ResourceGroup string
	VMName        string
	// VMSSName, when set, selects the scale-set form of the command.
	VMSSName string
}

// Legacy returns a failure.LegacyExtension error when AADLoginForLinux is
// still present (its handler folder under the agent's lib dir, or the
// aadlogin / aadlogin-selinux packages).
func Legacy(ctx context.Context, root sysroot.Root, query QueryFunc) error {
	return LegacyWithNames(ctx, root, query, LegacyHint{})
}

// LegacyWithNames is Legacy with the resource names filled into the message.
// A nil query skips the package check.
func LegacyWithNames(ctx context.Context, root sysroot.Root, query QueryFunc, hint LegacyHint) error {
	folders, err := legacyFolders(root)
	if err != nil {
		return fmt.Errorf("look for the AADLoginForLinux handler folder: %w", err)
	}
	var pkgs []string
	if query != nil {
		got, qerr := query(ctx, legacyPackages[:]...)
		switch {
		case qerr != nil && len(folders) == 0:
			return failure.Wrap(failure.Dependency, qerr,
				"could not check whether the old AADLoginForLinux packages (aadlogin, aadlogin-selinux) are installed; "+
					"make sure the package manager works (for example `dpkg -l` or `rpm -qa` succeeds), "+failure.SetAgain)
		case qerr == nil:
			for _, p := range legacyPackages {
				if v, ok := got[p]; ok {
					pkgs = append(pkgs, strings.TrimSpace(p+" "+v))
				}
			}
		}
	}
	if len(folders) == 0 && len(pkgs) == 0 {
		return nil
	}
	return failure.New(failure.LegacyExtension, "%s", legacyMessage(root, folders, pkgs, hint))
}

// legacyFolders lists the old extension's handler folders (system paths).
func legacyFolders(root sysroot.Root) ([]string, error) {
	var out []string
	for _, g := range legacyHandlerGlobs {
		matches, err := filepath.Glob(filepath.Join(root.Path(agentLibDir), g))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil || !fi.IsDir() {
				continue // a leftover zip or a dangling link is not an installed handler
			}
			out = append(out, agentLibDir+"/"+filepath.Base(m))
		}
	}
	sort.Strings(out)
	return out, nil
}

// maxLegacyMessage bounds the message; the portal and CRP truncate long ones.
const maxLegacyMessage = 1000

func legacyMessage(root sysroot.Root, folders, pkgs []string, hint LegacyHint) string {
	var found []string
	for _, f := range folders {
		found = append(found, "handler folder "+f)
	}
	if len(pkgs) > 0 {
		found = append(found, "packages "+strings.Join(pkgs, ", "))
	}
	evidence := strings.Join(found, "; ")
	evidence = truncate(evidence, 110)

	rg := orPlaceholder(hint.ResourceGroup, "<rg>")
	var del string
	if hint.VMSSName != "" {
		del = fmt.Sprintf("az vmss extension delete -g %s --vmss-name %s -n AADLoginForLinux", rg, hint.VMSSName)
	} else {
		del = fmt.Sprintf("az vm extension delete -g %s --vm-name %s -n AADLoginForLinux", rg, orPlaceholder(hint.VMName, "<vm>"))
	}

	msg := "The old AADLoginForLinux extension is still present (" + evidence + "). " +
		"Remove it with `" + del + "`, " + failure.SetAgain + ". " +
		"If that removal gets stuck, with all Entra users logged out (`who -u`), run as root on the VM: " +
		manualRemoval(root) + "; then do the same for aadlogin-selinux, and run the delete command again."
	return truncate(msg, maxLegacyMessage-1)
}

// manualRemoval gives the package removal steps for the package managers the
// machine has (all of them when none is recognised).
func manualRemoval(root sysroot.Root) string {
	const apt = "`apt remove --purge aadlogin` (if that fails: `dpkg --purge aadlogin`, and if its script still fails, " +
		"delete /var/lib/dpkg/info/aadlogin.prerm and run `dpkg --purge aadlogin` again)"
	hasApt := root.Exists("/usr/bin/apt-get") || root.Exists("/usr/bin/dpkg")
	hasYum := root.Exists("/usr/bin/yum") || root.Exists("/usr/bin/dnf")
	hasZypper := root.Exists("/usr/bin/zypper")
	if !hasApt && !hasYum && !hasZypper {
		hasApt, hasYum, hasZypper = true, true, true
	}
	var steps, rpm []string
	if hasApt {
		steps = append(steps, apt)
	}
	if hasYum {
		rpm = append(rpm, "`yum remove aadlogin`")
	}
	if hasZypper {
		rpm = append(rpm, "`zypper remove aadlogin`")
	}
	if len(rpm) > 0 {
		steps = append(steps, strings.Join(rpm, " or ")+" (if its script fails: `rpm -e --noscripts aadlogin`)")
	}
	return strings.Join(steps, " or ")
}

// truncate cuts s to at most n bytes, on a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func orPlaceholder(v, placeholder string) string {
	if v = strings.TrimSpace(v); v == "" {
		return placeholder
	}
	return v
}
