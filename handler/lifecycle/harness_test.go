package lifecycle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// harness is a sandboxed machine: an extension folder laid out by "the
// agent", a filesystem root, a fake IMDS and a scripted command runner.
type harness struct {
	t     *testing.T
	base  string // versioned extension folder
	root  string // stands for "/"
	imds  *httptest.Server
	ident string // present | missing | user-assigned | error500
	// noInstance makes IMDS's instance-metadata endpoint answer 500.
	noInstance bool
	runner     *runtest.Fake
	clk        *clocktest.Fake
	env        map[string]string
	version    string
	stdout     bytes.Buffer
	stderr     bytes.Buffer
	// purgeFails, when set, makes apt-get purge fail with this stderr.
	purgeFails string
	// tokenRequests counts the IMDS identity (token) requests.
	tokenRequests atomic.Int64
}

const debian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, base: t.TempDir(), root: t.TempDir(), ident: "present", version: "1.0.0.1",
		clk: clocktest.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))}
	h.imds = httptest.NewServer(http.HandlerFunc(h.serveIMDS))
	t.Cleanup(h.imds.Close)
	logs := filepath.Join(h.root, "var/log/azure", HandlerName)
	env := fmt.Sprintf(`[{"name":%q,"version":1.0,"handlerEnvironment":{"logFolder":%q,"configFolder":%q,"statusFolder":%q,"heartbeatFile":%q,"eventsFolder":%q}}]`,
		HandlerName, logs, filepath.Join(h.base, "config"), filepath.Join(h.base, "status"), filepath.Join(h.base, "heartbeat.log"), filepath.Join(logs, "events"))
	h.write(filepath.Join(h.base, "HandlerEnvironment.json"), env)
	for _, d := range []string{filepath.Join(h.base, "config"), filepath.Join(h.base, "status"), filepath.Join(logs, "events")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	h.settings(0, "")
	h.file("/etc/os-release", debian12)
	h.file("/proc/meminfo", "MemTotal:        4005432 kB\nMemFree:  100 kB\n")
	h.file("/etc/ssh/sshd_config", "PasswordAuthentication no\n")
	h.file(state.BootIDFile, "6f0c1a52-4a3b-4e0e-9a55-0d6f1c2b3a4d\n")
	// What a fresh Debian 12 machine answers to the commands every verb may
	// run; anything else fails the test (the fake is strict).
	h.runner = runtest.New(t, map[string]runtest.Response{
		"dpkg --audit":  {},
		"dpkg-query -W": {ExitCode: 1, Stderr: "dpkg-query: no packages found matching aadsshlogin\n"},
		"sshd -V":       {ExitCode: 1, Stderr: "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n"},
		"ssh -V":        {Stderr: "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n"},
		"sshd -T":       {Stdout: "port 22\npasswordauthentication no\n"},
	})
	h.env = map[string]string{
		"AZURE_GUEST_AGENT_EXTENSION_PATH":               h.base,
		"AZURE_GUEST_AGENT_EXTENSION_VERSION":            h.version,
		"AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES": `[{"Key":"ExtensionTelemetryPipeline","Value":"1.0"}]`,
		"ConfigSequenceNumber":                           "0",
	}
	return h
}

func (h *harness) write(path, content string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// file writes a file of the sandboxed machine.
func (h *harness) file(p, content string) { h.write(sysroot.Root(h.root).Path(p), content) }

func (h *harness) settings(seq int, public string) {
	body := ""
	if public != "" {
		body = `{"runtimeSettings":[{"handlerSettings":{"publicSettings":` + public + `,"protectedSettings":null,"protectedSettingsCertThumbprint":null}}]}`
	}
	h.write(filepath.Join(h.base, "config", strconv.Itoa(seq)+".settings"), body)
}

func (h *harness) serveIMDS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata") != "true" {
		http.Error(w, `{"error":"bad_request_102"}`, http.StatusBadRequest)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/metadata/instance/compute") && h.noInstance:
		http.Error(w, `{"error":"unknown"}`, http.StatusInternalServerError)
	case strings.HasPrefix(r.URL.Path, "/metadata/instance/compute"):
		fmt.Fprint(w, `{"azEnvironment":"AzurePublicCloud","name":"vm1","resourceGroupName":"rg1","subscriptionId":"sub","location":"westeurope"}`)
	case strings.HasPrefix(r.URL.Path, "/metadata/identity/oauth2/token"):
		h.tokenRequests.Add(1)
		switch h.ident {
		case "present", "user-assigned":
			mirid := "/subscriptions/sub/resourcegroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1"
			if h.ident == "user-assigned" {
				mirid = "/subscriptions/sub/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ua1"
			}
			claims, _ := json.Marshal(map[string]string{"xms_mirid": mirid})
			tok := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(claims) + ".sig"
			json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "Bearer", "expires_in": "3600", "resource": r.URL.Query().Get("resource")})
		case "missing":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request","error_description":"Identity not found"}`)
		default:
			http.Error(w, `{"error":"unknown"}`, http.StatusInternalServerError)
		}
	default:
		http.NotFound(w, r)
	}
}

func (h *harness) deps() Deps {
	return Deps{
		Getenv:         func(k string) string { return h.env[k] },
		Executable:     filepath.Join(h.base, "bin", "aadsshlogin-handler-amd64"),
		Root:           sysroot.Root(h.root),
		Runner:         h.runner,
		Clock:          h.clk,
		IMDSBase:       h.imds.URL,
		IdentityWindow: time.Second,
		Stdout:         &h.stdout,
		Stderr:         &h.stderr,
		Version:        h.version,
		PID:            4242,
	}
}

// runExpect runs verb and requires its exit code (want.Code) and its
// status for seq (want, message aside) with every wantIn in the message.
func (h *harness) runExpect(verb string, seq int, want statusView, wantIn ...string) {
	h.t.Helper()
	code := h.run(verb)
	got := h.status(seq)
	msg := got.Message
	got.Message, got.Subs = "", nil
	if d := cmp.Diff(want, got); d != "" || code != want.Code {
		h.t.Fatalf("%s exit %d, status (-want +got):\n%s\nmessage: %s", verb, code, d, msg)
	}
	for _, w := range wantIn {
		if !strings.Contains(msg, w) {
			h.t.Errorf("message %q lacks %q", msg, w)
		}
	}
}

// mustRun runs the verbs in order and fails the test on a non-zero exit.
func (h *harness) mustRun(verbs ...string) {
	h.t.Helper()
	for _, v := range verbs {
		if code := h.run(v); code != 0 {
			h.t.Fatalf("%s exit %d: %s", v, code, h.stderr.String())
		}
	}
}

// mustUpdate is the agent updating the extension from version from to
// version to: the incoming version runs update, with VERSION and
// AZURE_GUEST_AGENT_UPDATING_FROM_VERSION set as the agent sets them, and
// must exit 0.
func (h *harness) mustUpdate(from, to string) {
	h.t.Helper()
	h.version = to
	h.env["VERSION"] = to
	h.env["AZURE_GUEST_AGENT_UPDATING_FROM_VERSION"] = from
	h.mustRun("update")
}

func (h *harness) run(verb string) int {
	h.stdout.Reset()
	h.stderr.Reset()
	return Main([]string{"aadsshlogin-handler", verb}, h.deps())
}

type statusView struct {
	Operation string
	Status    string
	Code      int
	Message   string
	Subs      []string
}

func (h *harness) status(seq int) statusView {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.base, "status", strconv.Itoa(seq)+".status"))
	if err != nil {
		h.t.Fatalf("status file: %v", err)
	}
	var docs []struct {
		Status struct {
			Operation        string `json:"operation"`
			Status           string `json:"status"`
			Code             int    `json:"code"`
			FormattedMessage struct {
				Lang    string `json:"lang"`
				Message string `json:"message"`
			} `json:"formattedMessage"`
			SubStatus []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"substatus"`
		} `json:"status"`
	}
	if err := json.Unmarshal(data, &docs); err != nil || len(docs) != 1 {
		h.t.Fatalf("status file is not a one-element array: %v: %s", err, data)
	}
	s := docs[0].Status
	v := statusView{Operation: s.Operation, Status: s.Status, Code: s.Code, Message: s.FormattedMessage.Message}
	for _, ss := range s.SubStatus {
		v.Subs = append(v.Subs, ss.Name+"="+ss.Status)
	}
	return v
}
