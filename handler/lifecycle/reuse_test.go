package lifecycle

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
)

// sshdRuns returns the sshd (and ssh) command lines run since call from.
func sshdRuns(h *harness, from int) []string {
	var out []string
	for _, l := range h.runner.Lines()[from:] {
		if prog, _, _ := strings.Cut(l, " "); strings.HasSuffix(prog, "sshd") || prog == "ssh" {
			out = append(out, l)
		}
	}
	return out
}

// Install and a converging enable start sshd twice each (enable of
// install's sequence number takes install's hand-off and none): the wiring check's `sshd -T`
// after the packages changed sshd_config, whose output the sshd check
// reuses (it used to run `sshd -t`, then `sshd -T` again), and `sshd -V`
// for the version. Without /usr/sbin/sshd the wiring check cannot test, so
// the sshd check runs `sshd -T` itself.
func TestSSHDRunsPerCommand(t *testing.T) {
	tests := []struct {
		name      string
		binary    bool
		answer    *runtest.Response // the wiring check's answer, else an AllowGroups dump
		wantRuns  []string
		wantSubst []string
		wantNote  string // in the success message
	}{
		{name: "packaged sshd", binary: true,
			wantRuns:  []string{"/usr/sbin/sshd -T", "sshd -V"},
			wantSubst: []string{"sshd-allowgroups=warning"}},
		{name: "no sshd where the wiring check looks",
			wantRuns: []string{"sshd -T", "sshd -V"}},
		// First boot: sshd has not started, so `sshd -T` stops on the missing
		// /run/sshd after parsing. Success with a note, the sshd check reads
		// the files instead of starting sshd again.
		{name: "sshd not started yet", binary: true,
			answer:   &runtest.Response{ExitCode: 255, Stderr: "Missing privilege separation directory: /run/sshd\r\n"},
			wantRuns: []string{"/usr/sbin/sshd -T", "sshd -V"},
			wantNote: "Note: sshd has not started yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			fakeDebian(h)
			h.runner.Responses["sshd -V"] = runtest.Response{ExitCode: 1, Stderr: "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n"}
			if tc.binary {
				h.file("/usr/sbin/sshd", "")
				// Only the wiring check's run reports AllowGroups: the
				// warning proves the sshd check used that output.
				h.runner.Responses["/usr/sbin/sshd -T"] = runtest.Response{Stdout: "port 22\nallowgroups admins\n"}
				if tc.answer != nil {
					h.runner.Responses["/usr/sbin/sshd -T"] = *tc.answer
				}
			}
			for _, step := range []struct {
				verb string
				seq  string
			}{{"install", "0"}, {"enable", "0"}, {"enable", "1"}} {
				if step.seq != h.env["ConfigSequenceNumber"] {
					h.settings(1, `{}`)
					h.env["ConfigSequenceNumber"] = step.seq
				}
				from := len(h.runner.Calls)
				if code := h.run(step.verb); code != 0 {
					t.Fatalf("%s exit %d: %s", step.verb, code, h.stderr.String())
				}
				want := tc.wantRuns
				if step.verb == "enable" && step.seq == "0" {
					want = nil // install's hand-off: no sshd run at all
				}
				if diff := cmp.Diff(want, sshdRuns(h, from)); diff != "" {
					t.Errorf("%s seq %s: sshd runs (-want +got):\n%s", step.verb, step.seq, diff)
				}
				seq := 0
				if step.seq == "1" {
					seq = 1
				}
				if diff := cmp.Diff(tc.wantSubst, h.status(seq).Subs); diff != "" {
					t.Errorf("%s seq %s: substatus (-want +got):\n%s", step.verb, step.seq, diff)
				}
				if msg := h.status(seq).Message; step.seq == "0" && step.verb == "install" && !strings.Contains(msg, tc.wantNote) {
					t.Errorf("%s: message lacks %q: %s", step.verb, tc.wantNote, msg)
				}
			}
		})
	}
}

// countingIMDS puts a request counter in front of the harness's IMDS.
func countingIMDS(h *harness) func() map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		counts[r.URL.Path]++
		mu.Unlock()
		h.serveIMDS(w, r)
	}))
	h.t.Cleanup(srv.Close)
	h.imds = srv
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range counts {
			out[k] = v
		}
		return out
	}
}

// On the exit-22 path the az command's names come from the instance
// metadata enable already read: IMDS is asked for it once, not twice.
func TestNoIdentityReadsInstanceMetadataOnce(t *testing.T) {
	h := newHarness(t)
	h.ident = "missing"
	counts := countingIMDS(h)
	if code := h.run("enable"); code != 22 {
		t.Fatalf("enable exit %d, want 22: %s", code, h.stderr.String())
	}
	if msg := h.status(0).Message; !strings.Contains(msg, "az vm identity assign -g rg1 -n vm1") {
		t.Errorf("message lacks the az command with the names: %s", msg)
	}
	got := counts()
	if got["/metadata/instance/compute"] != 1 || got["/metadata/identity/oauth2/token"] < 1 {
		t.Errorf("IMDS requests %v, want exactly 1 compute request (and the token probes)", got)
	}
}
