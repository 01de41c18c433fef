package precheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// excludeEntraMatch is a Match line that selects every user except the two
// Entra name shapes the aadsshlogin package handles.
const excludeEntraMatch = "Match User *,!*@*,!????????-????-????-????-????????????"

// SSHDKnown is what the caller already learned about sshd, so that SSHD
// does not start it again for the same answer.
type SSHDKnown struct {
	// Test is the result of an `sshd -T` that exited 0 after the last change
	// to the sshd configuration: the installer's wiring check, run after the
	// packages appended their Match block (distros.Result.SSHDTest). nil:
	// SSHD runs `sshd -T` itself. A result from before the packages
	// changed sshd_config must not be passed: it describes another file.
	Test *run.Result
	// TestFailed: that `sshd -T` failed without naming a configuration line
	// (precheck.SSHDHostState or unexplained, already reported by the
	// caller); the files are parsed without starting sshd again.
	TestFailed bool
}

// SSHD inspects the effective sshd configuration and server version. It only
// returns warnings; the error is non-nil only when ctx ended.
//
// Global values (AllowGroups, DenyGroups, AllowUsers, DenyUsers) come from
// `sshd -T`, which prints the configuration sshd really uses with lower-case
// keywords. `sshd -T` refuses to run without host keys or with a broken
// file, so /etc/ssh/sshd_config (with its Includes) is parsed as the fallback.
// Match blocks are always taken from the parsed files: `sshd -T` without -C
// ignores them, and only their order tells whether one overrides the block
// the aadsshlogin package appends.
//
// known is what the caller already learned from sshd (the zero value:
// nothing), so that sshd is not started again for the same answer.
func SSHD(ctx context.Context, root sysroot.Root, runner run.Runner, known SSHDKnown) ([]Warning, error) {
	var warns []Warning
	cfg, cfgErr := LoadSSHDConfig(root)

	var global map[string][]string
	var tested bool
	var testWarn *Warning
	switch {
	case known.Test != nil:
		global, tested = effectiveValues(known.Test.Stdout)
	case known.TestFailed:
	default:
		global, tested, testWarn = sshdTest(ctx, runner)
	}
	if testWarn != nil {
		warns = append(warns, *testWarn)
	}
	source := "sshd -T"
	if !tested {
		if cfg == nil {
			warns = append(warns, Warning{Name: WarnConfigUnread, Message: fmt.Sprintf(
				"could not check the sshd configuration for settings that block Microsoft Entra sign-in (%v); "+
					"make sure openssh-server is installed and %s is readable", cfgErr, sshdConfigPath)})
		} else {
			global, source = cfg.globalValues(), sshdConfigPath
		}
	}
	if global != nil {
		warns = append(warns, accessWarnings(global, source)...)
	}
	if cfg != nil {
		warns = append(warns, matchWarnings(cfg)...)
	}
	if v, ok := serverVersion(ctx, runner); ok && v.Less(rsaSHA2CertServerVersion) {
		warns = append(warns, oldOpenSSHWarning(v))
	}
	if err := ctx.Err(); err != nil {
		return warns, err
	}
	return warns, nil
}

// sshdTest runs `sshd -T`. ok is false when it did not produce a
// configuration; warn is set only when sshd names a configuration line.
// Other failures are normal on a machine where sshd has not run yet ("no
// hostkeys available", "Missing privilege separation directory: /run/sshd")
// and just select the fallback.
func sshdTest(ctx context.Context, runner run.Runner) (vals map[string][]string, ok bool, warn *Warning) {
	res, err := runner.Run(ctx, run.Cmd{Path: "sshd", Args: []string{"-T"}})
	if err != nil {
		var ee *run.ExitError
		if errors.As(err, &ee) && ClassifySSHDTestFailure(res.Tail(4000)) == SSHDConfigRejected {
			return nil, false, &Warning{Name: WarnConfigTestFail, Message: fmt.Sprintf(
				"`sshd -T` rejects the sshd configuration (%s); sshd may not restart and nobody may be able to sign in. "+
					"Fix the reported line, check with `sshd -t`", res.Tail(300))}
		}
		return nil, false, nil
	}
	vals, ok = effectiveValues(res.Stdout)
	return vals, ok, nil
}

// effectiveValues parses the output of a successful `sshd -T`; ok is false
// when it holds no configuration (the files are parsed instead).
func effectiveValues(out []byte) (map[string][]string, bool) {
	vals := ParseSSHDTest(out)
	if len(vals) == 0 {
		return nil, false
	}
	return vals, true
}

// ParseSSHDTest parses `sshd -T` output: one "keyword value" per line, with
// list keywords (allowusers, allowgroups…) repeated once per entry. Values
// of repeated keywords are collected in order.
func ParseSSHDTest(out []byte) map[string][]string {
	vals := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		key = strings.ToLower(key)
		vals[key] = append(vals[key], strings.TrimSpace(val))
	}
	return vals
}

// accessKeywords are the list keywords whose global values we check.
var accessKeywords = [...]string{"allowgroups", "denygroups", "allowusers", "denyusers"}

// globalValues computes what `sshd -T` would print for the access lists:
// every global occurrence accumulates (these keywords are not first-wins).
func (c *SSHDConfig) globalValues() map[string][]string {
	vals := map[string][]string{}
	for _, d := range c.Directives {
		if !d.isGlobal() {
			continue
		}
		for _, k := range accessKeywords {
			if d.Keyword == k {
				vals[k] = append(vals[k], d.Args...)
			}
		}
	}
	return vals
}

// patterns splits the collected values of a list keyword into entries
// (sshd -T prints one per line; a parsed file may hold several per line).
func patterns(vals map[string][]string, key string) []string {
	var out []string
	for _, v := range vals[key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

func accessWarnings(vals map[string][]string, source string) []Warning {
	var warns []Warning
	groupFix := "Remove it, or move it into a Match block that leaves out Entra users, e.g. `" + excludeEntraMatch +
		"` at the end of sshd_config (adding groups does not help: they are unknown until the first sign-in)"
	for _, g := range []struct{ key, name, kw string }{
		{"allowgroups", WarnAllowGroups, "AllowGroups"},
		{"denygroups", WarnDenyGroups, "DenyGroups"},
	} {
		if p := patterns(vals, g.key); len(p) > 0 {
			warns = append(warns, Warning{Name: g.name, Message: fmt.Sprintf(
				"%s (%s) is set outside any Match block (%s): the first sign-in of each Microsoft Entra user fails, because sshd "+
					"cannot resolve the user's groups before that user has signed in once. %s",
				g.kw, shortList(p), source, groupFix)})
		}
	}
	if p := patterns(vals, "allowusers"); len(p) > 0 && !anyUserPattern(sampleUPN, p) {
		warns = append(warns, Warning{Name: WarnAllowUsers, Message: fmt.Sprintf(
			"AllowUsers (%s) is set outside any Match block (%s) and admits no Microsoft Entra user (user@domain names), "+
				"so their sign-in is refused. sshd splits AllowUsers entries at the first '@' into USER@HOST, so an Entra name "+
				"cannot be listed; move AllowUsers into a Match block that leaves out Entra users, e.g. `%s` at the end of "+
				"sshd_config (adding `*@*` would admit every user)",
			shortList(p), source, excludeEntraMatch)})
	}
	if p := patterns(vals, "denyusers"); len(p) > 0 && anyUserPattern(sampleUPN, p) {
		warns = append(warns, Warning{Name: WarnDenyUsers, Message: fmt.Sprintf(
			"DenyUsers (%s) is set outside any Match block (%s) and matches Microsoft Entra users (user@domain names; sshd "+
				"compares only the part before the first '@' of each entry with the user name), so their sign-in is refused. "+
				"Narrow the entries, or move DenyUsers into a Match block that leaves out Entra users, e.g. `%s`",
			shortList(p), source, excludeEntraMatch)})
	}
	return warns
}

func anyUserPattern(user string, pats []string) bool {
	for _, p := range pats {
		if matchUserPattern(user, p) {
			return true
		}
	}
	return false
}

func shortList(p []string) string {
	const max = 5
	if len(p) > max {
		return strings.Join(p[:max], " ") + fmt.Sprintf(" and %d more", len(p)-max)
	}
	return strings.Join(p, " ")
}

// aadKeysCommand identifies the block the aadsshlogin package appends.
const aadKeysCommand = "aad_certhandler"

// matchWarnings finds Match blocks that reach Entra users before the
// aadsshlogin block (or anywhere, when the package has not appended its block
// yet: it appends at the very end).
//
// sshd semantics this relies on (servconf.c): when a connection arrives,
// sshd re-reads the configuration with only matching Match blocks active and
// lets every keyword they set replace the global value; within that pass the
// FIRST value of a keyword wins. So a global `PubkeyAuthentication no` or a
// global AuthorizedKeysCommand does not affect Entra users (the package's
// Match block replaces it), but an earlier Match block that selects Entra
// users does. AllowGroups/DenyGroups are lists that add up over every matching
// block, before or after the package block, and cause the same first-sign-in
// failure as global ones. TestSSHDSemanticsAgainstRealSSHD checks this model
// against the real `sshd -T -C`.
func matchWarnings(cfg *SSHDConfig) []Warning {
	end := len(cfg.Directives)
	var aad *MatchBlock
	for _, d := range cfg.Directives {
		if d.Keyword == "authorizedkeyscommand" && len(d.Match) > 0 && strings.Contains(d.Value(), aadKeysCommand) {
			aad = d.Match[len(d.Match)-1]
			break
		}
	}
	for i, d := range cfg.Directives {
		if aad != nil && len(d.Match) > 0 && d.Match[len(d.Match)-1] == aad {
			end = i
			break
		}
	}
	var warns []Warning
	seen := map[string]bool{}
	for i, d := range cfg.Directives {
		if len(d.Match) == 0 || !appliesToEntra(d.Match) {
			continue
		}
		m := d.Match[len(d.Match)-1]
		switch d.Keyword {
		case "pubkeyauthentication", "authorizedkeyscommand", "authorizedkeyscommanduser", "authenticationmethods":
			if i >= end || seen[d.Keyword] {
				continue // the package block, or a value that is never used (first wins)
			}
			seen[d.Keyword] = true
			if problem := overrideProblem(d); problem != "" {
				warns = append(warns, Warning{Name: WarnMatchOverride, Message: fmt.Sprintf(
					"the block `%s` (%s) also applies to Microsoft Entra users and comes before the aadsshlogin `Match User *@*,…` "+
						"block, so its line `%s %s` (%s:%d) wins and %s: Entra sign-in fails. %s",
					m.String(), m.Where(), d.Keyword, d.Value(), d.File, d.Line, problem, excludeFix(m, true))})
			}
		case "allowgroups", "denygroups":
			// These lists add up over every matching block, wherever it is.
			if d.isGlobal() {
				continue // under `Match all`: already reported with the global values
			}
			warns = append(warns, Warning{Name: WarnMatchOverride, Message: fmt.Sprintf(
				"the block `%s` (%s) also applies to Microsoft Entra users and sets `%s %s` (%s:%d): the first sign-in of each "+
					"Entra user fails, because sshd cannot resolve the user's groups before that user has signed in once. %s",
				m.String(), m.Where(), d.Keyword, d.Value(), d.File, d.Line, excludeFix(m, false))})
		}
	}
	return warns
}

// overrideProblem says what a first-wins value does to Entra sign-in, or ""
// when it is what the package sets anyway.
func overrideProblem(d Directive) string {
	switch d.Keyword {
	case "pubkeyauthentication":
		if !strings.EqualFold(d.Value(), "yes") {
			return "turns public-key authentication off"
		}
	case "authorizedkeyscommand":
		if !strings.Contains(d.Value(), aadKeysCommand) {
			return "replaces the package's AuthorizedKeysCommand (/usr/sbin/aad_certhandler)"
		}
	case "authorizedkeyscommanduser":
		if d.Value() != "root" {
			return "runs the AuthorizedKeysCommand as another user than root"
		}
	case "authenticationmethods":
		if !allowsPublickeyAlone(d.Args) {
			return "requires more than a public key"
		}
	}
	return ""
}

// excludeFix tells how to leave Entra users out of block m; canMove adds
// the alternative of moving it after the package block (useless for lists,
// which add up over all matching blocks).
func excludeFix(m *MatchBlock, canMove bool) string {
	const neg = "!*@*,!????????-????-????-????-????????????"
	move := ""
	if canMove {
		move = ", or move the block after the aadsshlogin block"
	}
	for _, c := range m.Criteria {
		if c.Attr == "user" {
			return "Leave Entra users out of that block by adding `," + neg + "` to its User list" + move
		}
		if c.Attr == "all" {
			return "Replace `Match all` with `" + excludeEntraMatch + "`" + move
		}
	}
	return "Leave Entra users out of that block by adding `User *," + neg + "` to its Match line" + move
}

// allowsPublickeyAlone reports whether an AuthenticationMethods value lets a
// user in with a public key only.
func allowsPublickeyAlone(lists []string) bool {
	for _, l := range lists {
		if l == "any" || l == "publickey" {
			return true
		}
	}
	return false
}
