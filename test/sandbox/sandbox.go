// Package sandbox runs the real extension zip on a simulated Azure VM built
// from real parts, and is what `make demo`, the end-to-end tests and the
// fault batteries use:
//
//   - a Debian 12 chroot (or 13, Plan.Suite; mmdebstrap, cached) whose apt, dpkg and os-release
//     are the ones a VM has;
//   - a network namespace created for the run, in which a fake IMDS answers
//     on 169.254.169.254:80 and a loopback HTTPS repository, laid out and
//     signed like packages.microsoft.com, serves fake aadsshlogin packages
//     (the handler reaches it through its private-mirror setting);
//   - the real guest agent, Debian's waagent package installed in the
//     chroot, driven by test/realagent through goal states (install, enable,
//     settings change with encrypted protected settings, agent restart,
//     disable, version update and downgrade, removal); what it would upload
//     to Azure is read back with its own status-report code.
//
// Nothing leaves the machine: the namespace has only its own loopback.
//
// Files: sandbox.go, what a scenario is (Plan, Phase, Want) and the
// scenarios; rig.go, the host side (Prepare builds the chroot, repository
// and namespace; Host.Call re-executes a binary inside the namespace);
// inner.go, the inner side (Serve enters the sandbox, starting the servers,
// and runs a Mode: the plan's phases for Run and `make demo`, a fault
// battery or the benchmark); agent.go, firstboot.go and session.go, the
// phases' parts.
package sandbox

import (
	"context"
	"fmt"
	"io"
	"time"
)

// HandlerName is the extension's name as the agent knows it.
const HandlerName = "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux"

// Phase is one goal state handed to the real guest agent (or a machine
// check, or a fix a person makes) of a scenario.
type Phase struct {
	Title string `json:"title"`
	// Agent is what the guest agent is asked to do: AgentSet (a new
	// sequence number with the extension enabled: `az vm extension set`),
	// AgentRestart (the agent restarts and processes its goal state again),
	// AgentEnable (the extension is enabled again with the same sequence
	// number and settings, e.g. after a disable),
	// AgentDisable, AgentUninstall (`az vm extension delete`); "" for a
	// check, fix or diagnose phase.
	Agent string `json:"agent,omitempty"`
	// Zip selects the handler version of an AgentSet phase: 1 = Zip,
	// 2 = NextZip (a different version than installed is an update or a
	// downgrade, which the agent itself carries out).
	Zip int `json:"zip,omitempty"`
	// Protected adds protected settings carrying the mirror URL, encrypted
	// to the tenant certificate.
	Protected bool `json:"protected,omitempty"`
	// Want is what the agent must report after the phase.
	Want *Want `json:"want,omitempty"`
	// Check, for a check phase: "installed" or "absent" (aadsshlogin in
	// dpkg), or one of the first-boot checks (firstboot.go).
	Check string `json:"check,omitempty"`
	// Fix removes the cause of a failure as the user would: FixIdentity
	// (`az vm identity assign`: IMDS starts issuing tokens), FixLegacy
	// (the AADLoginForLinux extension is deleted: its aadlogin package is
	// purged).
	Fix string `json:"fix,omitempty"`
	// HoldLock makes another process hold the handler's lock
	// (/var/lib/aadsshlogin-extension/lock) during the phase.
	HoldLock bool `json:"holdLock,omitempty"`
	// Session logs an Entra user in (a live process with a utmp record)
	// before the phase.
	Session bool `json:"session,omitempty"`
	// StuckSession logs an Entra user in with a session the handler cannot
	// end (its utmp record names pid 1) before the phase.
	StuckSession bool `json:"stuckSession,omitempty"`
	// Diagnose runs the installed handler's `diagnose` command as a person
	// would; DiagnoseExit is the exit code expected from it.
	Diagnose     bool `json:"diagnose,omitempty"`
	DiagnoseExit int  `json:"diagnoseExit,omitempty"`
}

// Agent operations of a phase.
const (
	AgentSet       = "set"
	AgentEnable    = "enable"
	AgentRestart   = "restart"
	AgentDisable   = "disable"
	AgentUninstall = "uninstall"
)

// Setups of a plan: VM conditions each failure code stands for.
const (
	// SetupUnsupported makes the VM a Debian 8 (os-release): 51.
	SetupUnsupported = "unsupported"
	// SetupRepoDown makes the repository answer 503 to everything: 52.
	SetupRepoDown = "repo-down"
	// SetupLowMemory shows the handler a 512 MiB /proc/meminfo: 54.
	SetupLowMemory = "low-memory"
	// SetupBadSSHD gives sshd_config a keyword sshd rejects: 57.
	SetupBadSSHD = "bad-sshd"
)

// Fixes of a phase.
const (
	FixIdentity = "identity"
	FixLegacy   = "legacy"
	// FixSession: the Entra user of a StuckSession logs out.
	FixSession = "session"
)

// Want is what the agent reports for the extension after a phase (empty
// fields are not checked).
type Want struct {
	// Verbs are the handler commands the agent ran, "version verb".
	Verbs []string `json:"verbs,omitempty"`
	// Handler is the handler status (Ready, NotReady); Absent means the
	// agent reports nothing for the extension (it was removed).
	Handler string `json:"handler,omitempty"`
	Absent  bool   `json:"absent,omitempty"`
	// Status, Code and Operation are the extension status the agent
	// uploads; Has are substrings its message must contain.
	Status    string   `json:"status,omitempty"`
	Code      int      `json:"code,omitempty"`
	Operation string   `json:"operation,omitempty"`
	Has       []string `json:"has,omitempty"`
	// Lacks are substrings the message must not contain (e.g. a promise
	// that the agent will retry: it does not).
	Lacks []string `json:"lacks,omitempty"`
	// IdentityChecks and Refreshes, when set, are the number of IMDS token
	// requests and of repository index downloads (InRelease) the phase
	// may cause.
	IdentityChecks *int `json:"identityChecks,omitempty"`
	Refreshes      *int `json:"refreshes,omitempty"`
	// SessionsEnded requires the Entra session of a Session phase to be gone.
	SessionsEnded bool `json:"sessionsEnded,omitempty"`
	// Logged are substrings of error lines the agent must have logged (what
	// it swallows, e.g. a failed uninstall, shows only there).
	Logged []string `json:"logged,omitempty"`
}

// Proxy modes of a plan: the guest agent's service carries http_proxy and
// https_proxy (as `systemctl edit walinuxagent` would set them), which the
// agent passes on to extension commands through its own environment.
const (
	// ProxyUp points them at a recording forward proxy, the only way to the
	// repository: the mirror URL names https://127.0.0.1 (port 443, where
	// nothing listens) and the proxy routes that to the real server.
	ProxyUp = "up"
	// ProxyDown points them at a loopback port nothing listens on, while
	// the repository stays directly reachable.
	ProxyDown = "down"
)

// Plan is what a scenario does.
type Plan struct {
	Name         string `json:"name"`
	Description  string `json:"description"`
	IMDSScenario string `json:"imdsScenario"`
	Legacy       bool   `json:"legacy,omitempty"`
	// Arc plays an Azure Arc-enabled server: HIMDS on localhost:40342 with
	// its key-file challenge, and no IMDS on 169.254.169.254.
	Arc bool `json:"arc,omitempty"`
	// Proxy is "", ProxyUp or ProxyDown.
	Proxy string `json:"proxy,omitempty"`
	// Setup makes the VM unfit before the first phase: one of the Setup…
	// constants.
	Setup string `json:"setup,omitempty"`
	// Suite is the Debian suite of the VM: "" for bookworm (waagent
	// 2.7.3.0), "trixie" for Debian 13 with its waagent 2.12.
	Suite string `json:"suite,omitempty"`
	// BadSettings gives the extension public settings it must refuse (53).
	BadSettings bool `json:"badSettings,omitempty"`
	// FirstBoot plays a VM still booting (see firstboot.go).
	FirstBoot bool    `json:"firstBoot,omitempty"`
	Phases    []Phase `json:"phases"`
}

// ready is the start of the handler's success message.
const ready = "Microsoft Entra ID sign-in is ready"

// Scenarios lists the plans by name. In Want.Verbs, v1 and v2 stand for the
// versions of Zip and NextZip.
func Scenarios() map[string]Plan {
	installed := Phase{Title: "aadsshlogin is installed", Check: "installed"}
	absent := Phase{Title: "aadsshlogin is not installed", Check: "absent"}
	foreignIntact := Phase{Title: "microsoft-prod.list is still the other product's", Check: CheckForeignRepoIntact}
	success := func(verbs ...string) *Want {
		return &Want{Verbs: verbs, Handler: "Ready", Status: "success", Has: []string{ready}}
	}
	removal := func(zip int, v string) []Phase {
		return []Phase{
			{Title: "removal (`az vm extension delete`): the agent disables, then uninstalls and deletes the extension folder",
				Agent: AgentUninstall, Zip: zip, Want: &Want{Verbs: []string{v + " disable", v + " uninstall"}, Absent: true}},
			{Title: "aadsshlogin is gone", Check: "absent"},
		}
	}
	// fixed is a failure that the extension reports as transitioning with
	// our code, then, once the cause is fixed and the extension set again
	// (new sequence number), success.
	fixed := func(code int, has, fix, fixTitle string) []Phase {
		return []Phase{
			{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: &Want{Verbs: []string{"v1 install", "v1 enable"},
				Handler: "NotReady", Status: "transitioning", Code: code, Has: []string{has}}},
			absent,
			{Title: fixTitle, Fix: fix},
			{Title: "the extension is set again (new sequence number): enable converges", Agent: AgentSet, Zip: 1,
				Want: success("v1 enable")},
			installed,
		}
	}
	failed := func(code int, has ...string) []Phase {
		return []Phase{
			{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: &Want{Verbs: []string{"v1 install", "v1 enable"},
				Handler: "NotReady", Status: "error", Code: code, Has: has}},
			absent,
		}
	}
	one := 1
	return map[string]Plan{
		"first-once": {Name: "first-once", IMDSScenario: "present",
			Description: "a first deployment (install + enable of one sequence number) checks the identity once and refreshes the repository once",
			Phases: []Phase{
				{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: &Want{Verbs: []string{"v1 install", "v1 enable"},
					Handler: "Ready", Status: "success", Has: []string{ready}, IdentityChecks: &one, Refreshes: &one}},
				installed,
			}},
		"unsupported": {Name: "unsupported", IMDSScenario: "present", Setup: SetupUnsupported,
			Description: "Debian 8: the agent reports error 51 naming the distribution", Phases: failed(51, `VERSION_ID="8"`)},
		"repo-down": {Name: "repo-down", IMDSScenario: "present", Setup: SetupRepoDown,
			Description: "the repository answers 503: the agent reports error 52", Phases: failed(52, "503")},
		"bad-settings": {Name: "bad-settings", IMDSScenario: "present", BadSettings: true,
			Description: "a plain-HTTP mirror URL in the settings: the agent reports error 53", Phases: failed(53, "mirror.url")},
		"low-memory": {Name: "low-memory", IMDSScenario: "present", Setup: SetupLowMemory,
			Description: "512 MiB of memory: the agent reports error 54", Phases: failed(54, "resize the VM")},
		"bad-sshd": {Name: "bad-sshd", IMDSScenario: "present", Setup: SetupBadSSHD,
			Description: "sshd rejects its configuration: the agent reports error 57", Phases: []Phase{
				{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: &Want{Verbs: []string{"v1 install", "v1 enable"},
					Handler: "NotReady", Status: "error", Code: 57, Has: []string{"sshd"}}},
			}},
		"first-boot": {Name: "first-boot", IMDSScenario: "present", FirstBoot: true,
			Description: "a VM still booting: sshd not started, unattended-upgrades taking the dpkg locks between steps, a 1 GiB VM's MemTotal, another product rewriting microsoft-prod.list",
			Phases: append([]Phase{
				{Title: "the freshly booted VM", Check: CheckFirstBoot},
				{Title: "first deployment: the agent runs install, then enable, while the locks change hands", Agent: AgentSet, Zip: 1,
					Want: &Want{Verbs: []string{"v1 install", "v1 enable"}, Handler: "Ready", Status: "success",
						Has: []string{ready, "sshd has not started yet"}}},
				installed,
				{Title: "the handler waited for unattended-upgrades between its steps", Check: CheckLockWaits},
				{Title: "an operator runs `diagnose`: memory is a 1 GiB VM's (the Entra endpoints fail with 52 offline)",
					Diagnose: true, DiagnoseExit: 52},
				{Title: "another Microsoft product rewrites microsoft-prod.list", Check: CheckForeignRepo},
				{Title: "settings change (new sequence number): enable leaves that file alone, warns and writes its own", Agent: AgentSet, Zip: 1, Protected: true,
					Want: &Want{Verbs: []string{"v1 enable"}, Handler: "Ready", Status: "success", Has: []string{ready, "1 warning(s) below"}}},
				foreignIntact,
			}, append(removal(1, "v1"), foreignIntact)...)},
		"trixie-agent": {Name: "trixie-agent", IMDSScenario: "present", Suite: "trixie",
			Description: "Debian 13 with its own waagent (2.12): the agent reports our 51 (Debian 13 is not in the support matrix), runs enable again after a restart, and removes the extension",
			Phases: []Phase{
				{Title: "first deployment on Debian 13", Agent: AgentSet, Zip: 1, Want: &Want{Verbs: []string{"v1 install", "v1 enable"},
					Handler: "NotReady", Status: "error", Code: 51, Has: []string{`VERSION_ID="13"`}}},
				{Title: "agent restart", Agent: AgentRestart, Want: &Want{Verbs: []string{"v1 enable"}, Handler: "NotReady", Status: "error", Code: 51}},
				{Title: "removal: enable failed, so the handler is Installed, not Enabled, and the agent runs uninstall without disable",
					Agent: AgentUninstall, Zip: 1, Want: &Want{Verbs: []string{"v1 uninstall"}, Absent: true}},
				absent,
			}},
		"remove-busy": {Name: "remove-busy", IMDSScenario: "present",
			Description: "removal while another process holds the handler's lock: the failing disable stops the removal and is reported; deleting again removes",
			Phases: []Phase{
				{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				{Title: "removal while another process holds the handler's lock: disable fails, so the agent does not uninstall, keeps the extension and reports the failure",
					Agent: AgentUninstall, Zip: 1, HoldLock: true, Want: &Want{Verbs: []string{"v1 disable"}, Handler: "NotReady",
						Status: "error", Code: 56, Operation: "Disable",
						Has: []string{"again if you were deleting the extension"}, Lacks: []string{"will retry"}}},
				installed,
				{Title: "removal again once the lock is free (the user deletes the extension again)", Agent: AgentUninstall, Zip: 1,
					Want: &Want{Verbs: []string{"v1 disable", "v1 uninstall"}, Absent: true}},
				absent,
			}},
		"busy": {Name: "busy", IMDSScenario: "present",
			Description: "a settings change while another run holds the handler's lock past its 120 s wait: the agent reports error 56",
			Phases: []Phase{
				{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				{Title: "settings change while another process holds the handler's lock", Agent: AgentSet, Zip: 1, HoldLock: true,
					Want: &Want{Verbs: []string{"v1 enable"}, Handler: "NotReady", Status: "error", Code: 56,
						Has: []string{"another run of this extension (pid ", "is still in progress"}, Lacks: []string{"will retry"}}},
			}},
		"entra-session": {Name: "entra-session", IMDSScenario: "present",
			Description: "removal while an Entra user is logged in: announced grace, the session is ended, the packages are removed",
			Phases: []Phase{
				{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				installed,
				{Title: "removal while alice@contoso.com is logged in", Agent: AgentUninstall, Zip: 1, Session: true,
					Want: &Want{Verbs: []string{"v1 disable", "v1 uninstall"}, Absent: true, SessionsEnded: true}},
				{Title: "aadsshlogin is gone", Check: "absent"},
			}},
		"entra-session-stuck": {Name: "entra-session-stuck", IMDSScenario: "present",
			Description: "removal while an Entra session cannot be ended: the agent swallows exit 55 and deletes the extension; the packages stay and the removal is pending until the extension is set again, which repairs it",
			Phases: []Phase{
				{Title: "first deployment", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				{Title: "removal while alice@contoso.com has a session that cannot be ended: uninstall exits 55, the agent logs it and deletes the extension anyway",
					Agent: AgentUninstall, Zip: 1, StuckSession: true,
					Want: &Want{Verbs: []string{"v1 disable", "v1 uninstall"}, Absent: true, Logged: []string{"Non-zero exit code: 55", "Entra sign-in was not removed; left behind: aadsshlogin"}}},
				installed,
				{Title: "the user logs out", Fix: FixSession},
				{Title: "the extension is set again (new sequence number): install finishes the pending removal's repair and converges",
					Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				{Title: "removal now succeeds", Agent: AgentUninstall, Zip: 1, Want: &Want{Verbs: []string{"v1 disable", "v1 uninstall"}, Absent: true}},
				absent,
			}},
		"full": {Name: "full", IMDSScenario: "present",
			Description: "install, enable, settings change, agent restart, disable, update to the next version and back, removal",
			Phases: append([]Phase{
				{Title: "first deployment: the agent runs install, then enable", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				installed,
				{Title: "an operator runs `diagnose` (read-only; the sandbox has no internet, so the Entra endpoints fail with 52)",
					Diagnose: true, DiagnoseExit: 52},
				{Title: "settings change with protected settings (encrypted to the tenant certificate): new sequence number, enable only",
					Agent: AgentSet, Zip: 1, Protected: true, Want: success("v1 enable")},
				{Title: "agent restart: the agent processes the same goal state again, enable with the same sequence number",
					Agent: AgentRestart, Want: success("v1 enable")},
				{Title: "disable: nothing is removed", Agent: AgentDisable, Zip: 1,
					Want: &Want{Verbs: []string{"v1 disable"}, Handler: "NotReady", Status: "success"}},
				installed,
				{Title: "enable again with the same sequence number (no settings change): the status says enabled, not disabled",
					Agent: AgentEnable, Want: &Want{Verbs: []string{"v1 enable"}, Handler: "Ready", Status: "success", Operation: "Enable", Has: []string{ready}, Lacks: []string{"disabled"}}},
				{Title: "update to the next version: the agent runs the old disable, the new update, the old uninstall, the new install and enable",
					Agent: AgentSet, Zip: 2, Want: success("v1 disable", "v2 update", "v1 uninstall", "v2 install", "v2 enable")},
				installed,
				{Title: "downgrade: the agent disables the newer version, runs its update and uninstall, then the old install and enable",
					Agent: AgentSet, Zip: 1, Want: success("v2 disable", "v2 update", "v2 uninstall", "v1 install", "v1 enable")},
				installed,
			}, removal(1, "v1")...)},
		"no-identity": {Name: "no-identity", IMDSScenario: "missing",
			Description: "the VM has no system-assigned managed identity: the agent reports transitioning with code 22, then success once it is assigned",
			Phases:      fixed(22, "az vm identity assign", FixIdentity, "the user assigns a system-assigned identity (`az vm identity assign`)")},
		"legacy": {Name: "legacy", IMDSScenario: "present", Legacy: true,
			Description: "the legacy AADLoginForLinux package aadlogin is installed: transitioning with code 23, then success once it is removed",
			Phases:      fixed(23, "AADLoginForLinux", FixLegacy, "the user deletes the AADLoginForLinux extension (its aadlogin package is purged)")},
		"downgrade": {Name: "downgrade", IMDSScenario: "present",
			Description: "install the next version, then downgrade: the agent runs the newer version's update, the packages stay",
			Phases: append([]Phase{
				{Title: "first deployment of the next version", Agent: AgentSet, Zip: 2, Want: success("v2 install", "v2 enable")},
				{Title: "downgrade", Agent: AgentSet, Zip: 1, Want: success("v2 disable", "v2 update", "v2 uninstall", "v1 install", "v1 enable")},
				installed,
			}, removal(1, "v1")...)},
		"arc": {Name: "arc", IMDSScenario: "arc-present", Arc: true,
			Description: "an Azure Arc-enabled server: the identity comes from HIMDS and its key-file challenge",
			Phases: append([]Phase{
				{Title: "first deployment on an Arc-enabled server", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				installed,
			}, removal(1, "v1")...)},
		"arc-hostile-realm": {Name: "arc-hostile-realm", IMDSScenario: "arc-traversal", Arc: true,
			Description: "HIMDS points its challenge outside /var/opt/azcmagent/tokens: the handler refuses to read it (exit 52)",
			Phases:      failed(52, `the path contains ".."`)},
		"proxy": {Name: "proxy", IMDSScenario: "present", Proxy: ProxyUp,
			Description: "the agent's service sets http_proxy/https_proxy (no_proxy without 169.254.169.254): apt goes through the proxy, IMDS never does",
			Phases: []Phase{
				{Title: "first deployment behind a proxy", Agent: AgentSet, Zip: 1, Want: success("v1 install", "v1 enable")},
				installed,
			}},
		"proxy-down": {Name: "proxy-down", IMDSScenario: "present", Proxy: ProxyDown,
			Description: "the agent's proxy is down: the agent reports error 52 saying how to set the proxy on walinuxagent.service",
			Phases: failed(52, "cannot be reached through the proxy. Check that the proxy http://127.0.0.1:", "is up and lets the VM reach",
				"walinuxagent.service", "no_proxy=169.254.169.254")},
	}
}

// Run prepares the sandbox and runs the scenario; a nil error means every
// phase met its expectation.
func Run(ctx context.Context, opt Options) error {
	plan, ok := Scenarios()[opt.Scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q", opt.Scenario)
	}
	start := time.Now()
	out := opt.out()
	fmt.Fprintf(out, "== sandbox: scenario %q: %s\n", plan.Name, plan.Description)
	h, err := Prepare(ctx, opt, plan)
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintf(out, "-- network namespace %s: fake IMDS (%s) on 169.254.169.254:80, HTTPS repository on 127.0.0.1 (prepared in %s)\n",
		h.NetNS, plan.IMDSScenario, time.Since(start).Round(time.Second))
	if err := h.Call(ctx, Call{Mode: ModeScenario, Self: opt.Self, Out: out}, nil); err != nil {
		return fmt.Errorf("scenario %q failed: %w", plan.Name, err)
	}
	fmt.Fprintf(out, "== sandbox: scenario %q passed in %s\n", plan.Name, time.Since(start).Round(time.Second))
	return nil
}

func (opt Options) out() io.Writer {
	if opt.Out == nil {
		return io.Discard
	}
	return opt.Out
}
