package agentsim

import (
	"archive/zip"
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeScript is the handler of the fake packages. Its behaviour per verb
// comes from the file "modes" (lines verb=mode) in the package; it logs each
// call to $FAKE_LOG/calls and dumps the agent variables to
// $FAKE_LOG/env.<verb>.<version>.
const fakeScript = `#!/bin/sh
verb=$1
ver=$AZURE_GUEST_AGENT_EXTENSION_VERSION
seq=$ConfigSequenceNumber
echo "$verb $ver $seq" >> "$FAKE_LOG/calls"
env | grep -E '^(AZURE_GUEST_AGENT_|ConfigSequenceNumber=|VERSION=)' | sort > "$FAKE_LOG/env.$verb.$ver"
pwd > "$FAKE_LOG/cwd.$verb.$ver"
mode=$(sed -n "s/^$verb=//p" modes)
writestatus() {
  printf '[{"version":1,"timestampUTC":"2025-01-01T00:00:00Z","status":{"name":"fake","operation":"%s","status":"%s","code":%s,"formattedMessage":{"lang":"en-US","message":"%s"}}}]' \
    "$verb" "$1" "$2" "$3" > "status/.$seq.tmp" && mv "status/.$seq.tmp" "status/$seq.status"
}
case "$mode" in
""|ok)
  writestatus success 0 "$verb $ver ok"
  echo "$seq" > mrseq
  echo "$verb done"
  exit 0 ;;
silent)
  exit 0 ;;
fail22)
  writestatus transitioning 0 "$verb $ver failing"
  echo "no system-assigned identity" >&2
  exit 22 ;;
sleep)
  sleep 60
  exit 0 ;;
malformed)
  echo '{"status":{"status":"success"}}' > "status/$seq.status"
  exit 0 ;;
badsub)
  printf '[{"status":{"status":"success","substatus":[{"status":"bogus"}]}}]' > "status/$seq.status"
  exit 0 ;;
bgsame)
  sleep 60 &
  echo $! > "$FAKE_LOG/bg.same.pid"
  sleep 60 ;;
bgsetsid)
  setsid sh -c 'echo $$ > "$FAKE_LOG/bg.setsid.pid"; exec sleep 60' </dev/null >/dev/null 2>&1 &
  sleep 60 ;;
noisy)
  i=0; while [ $i -lt 500 ]; do echo "out line $i"; echo "err line $i" >&2; i=$((i+1)); done
  exit 3 ;;
esac
`

type fakePkg struct {
	version  string
	modes    map[string]string // verb -> mode
	manifest string            // HandlerManifest.json; default fakeManifest("")
	subdir   string            // put the package below this folder in the zip
	bom      bool
}

func fakeManifest(extra string) string {
	return `[{"name":"fake","version":1.0,"handlerManifest":{` +
		`"installCommand":"scripts/fake install","uninstallCommand":"scripts/fake uninstall",` +
		`"updateCommand":"scripts/fake update","enableCommand":"/scripts/fake enable",` +
		`"disableCommand":"scripts/fake disable"` + extra + `}}]`
}

// build writes the zip <dir>/Fake.Handler__<version>.zip.
func (p fakePkg) build(t *testing.T, dir string) Package {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("Fake.Handler__%s.zip", p.version))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	man := p.manifest
	if man == "" {
		man = fakeManifest("")
	}
	if p.bom {
		man = "\xef\xbb\xbf" + man
	}
	var modes []string
	for v, m := range p.modes {
		modes = append(modes, v+"="+m)
	}
	sort.Strings(modes)
	files := map[string]string{
		"HandlerManifest.json": man,
		"scripts/fake":         fakeScript,
		"modes":                strings.Join(modes, "\n") + "\n",
	}
	for name, content := range files {
		w, err := zw.Create(filepath.ToSlash(filepath.Join(p.subdir, name)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return Package{Zip: path}
}

// testScale gives enable/uninstall 5 s and the others 15 s: generous on a
// loaded machine, while the post-exit pause (1 s) and status retry gap
// (2 s) shrink to 17 ms and 33 ms. Timeout tests set Options.Timeouts.
const testScale = 1.0 / 60

type harness struct {
	t      *testing.T
	sim    *Simulator
	logDir string // FAKE_LOG
	pkgDir string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessTimeouts(t, nil)
}

func newHarnessTimeouts(t *testing.T, timeouts map[Verb]time.Duration) *harness {
	t.Helper()
	root := t.TempDir()
	h := &harness{t: t, logDir: filepath.Join(root, "fakelog"), pkgDir: filepath.Join(root, "pkgs")}
	for _, d := range []string{h.logDir, h.pkgDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sim, err := New(Options{
		LibDir:       filepath.Join(root, "var/lib/waagent"),
		LogDir:       filepath.Join(root, "var/log/azure/Fake.Handler"),
		HandlerName:  "Fake.Handler",
		TimeoutScale: testScale,
		Timeouts:     timeouts,
		// The five reads of a missing status file cost 20 ms, not 8 s.
		StatusRetryDelay: 5 * time.Millisecond,
		Env:              []string{"FAKE_LOG=" + h.logDir},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.sim = sim
	return h
}

func (h *harness) pkg(p fakePkg) Package { return p.build(h.t, h.pkgDir) }

// calls returns the "verb version seq" lines the fake logged.
func (h *harness) calls() []string {
	f, err := os.Open(filepath.Join(h.logDir, "calls"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// env returns the agent variables the fake saw for verb in version.
func (h *harness) env(verb, version string) map[string]string {
	b, err := os.ReadFile(filepath.Join(h.logDir, "env."+verb+"."+version))
	if err != nil {
		h.t.Fatalf("no env dump for %s %s: %v", verb, version, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// verbs summarises steps as "verb@version" (agent steps prefixed with ":").
func verbs(steps []Step) []string {
	var out []string
	for _, s := range steps {
		p := ""
		if s.Agent {
			p = ":"
		}
		out = append(out, p+s.Verb+"@"+s.Version)
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
