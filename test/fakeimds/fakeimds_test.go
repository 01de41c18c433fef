package fakeimds_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
)

type answer struct {
	Status int
	Body   string
	Realm  string
}

func get(t *testing.T, url string, hdr map[string]string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")}
}

func TestServerScripts(t *testing.T) {
	const tok = fakeimds.TokenPath + "?api-version=2018-02-01&resource=r"
	md := map[string]string{"Metadata": "true"}
	tests := []struct {
		scenario string
		path     string
		hdr      []map[string]string
		want     []answer
	}{
		{"present", tok, []map[string]string{nil}, []answer{{400, fakeimds.NoMetadataBody, ""}}},
		{"present", tok, []map[string]string{{"Metadata": "True"}}, []answer{{400, fakeimds.NoMetadataBody, ""}}},
		{"present", tok, []map[string]string{{"Metadata": "true", "X-Forwarded-For": "1.2.3.4"}},
			[]answer{{400, fakeimds.ErrorBody("bad_request", "Proxied requests are not allowed"), ""}}},
		{"missing", tok, []map[string]string{md, md}, []answer{{400, fakeimds.MissingBody, ""}, {400, fakeimds.MissingBody, ""}}},
		{"gone-then-present", tok, []map[string]string{md, md, md, md}, []answer{
			{410, fakeimds.ErrorBody("fake_error", "scripted HTTP 410"), ""},
			{410, fakeimds.ErrorBody("fake_error", "scripted HTTP 410"), ""},
			{200, fakeimds.TokenBody(fakeimds.SystemMIResID), ""},
			{200, fakeimds.TokenBody(fakeimds.SystemMIResID), ""}}},
		{"user-assigned", tok, []map[string]string{md}, []answer{{200, fakeimds.TokenBody(fakeimds.UserMIResID), ""}}},
		{"present", fakeimds.TokenPath, []map[string]string{md},
			[]answer{{400, fakeimds.ErrorBody("invalid_request", "api-version and resource are required"), ""}}},
		{"gov-present", fakeimds.ComputePath + "?api-version=2021-02-01", []map[string]string{md}, []answer{{200,
			`{"azEnvironment":"AzureUSGovernmentCloud","name":"vm1","resourceGroupName":"rg1","subscriptionId":"00000000-0000-0000-0000-000000000000","location":"westeurope"}`, ""}}},
		{"arc-present", tok, []map[string]string{md, {"Metadata": "true", "Authorization": "Basic wrong"},
			{"Metadata": "true", "Authorization": "Basic " + fakeimds.ArcKey}}, []answer{
			{401, "", "Basic realm=/var/opt/azcmagent/tokens/good.key"},
			{401, "", "Basic realm=/var/opt/azcmagent/tokens/good.key"},
			{200, fakeimds.TokenBody(fakeimds.SystemMIResID), ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			sc, ok := fakeimds.Lookup(tc.scenario)
			if !ok {
				t.Fatalf("no scenario %q", tc.scenario)
			}
			var log bytes.Buffer
			fake := fakeimds.New(sc, &log)
			hs := httptest.NewServer(fake)
			defer hs.Close()
			var got []answer
			for _, h := range tc.hdr {
				got = append(got, get(t, hs.URL+tc.path, h))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The log has one JSON line per request and never the Arc secret.
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != len(tc.hdr) || strings.Contains(log.String(), fakeimds.ArcKey) {
				t.Errorf("log:\n%s", log.String())
			}
			var r fakeimds.Request
			if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r.Path != strings.Split(tc.path, "?")[0] {
				t.Errorf("first log line %q: %+v %v", lines[0], r, err)
			}
		})
	}
}

func TestLookupAndNames(t *testing.T) {
	names := fakeimds.Names()
	if len(names) < 20 {
		t.Errorf("only %d scenarios: %v", len(names), names)
	}
	for _, n := range names {
		sc, ok := fakeimds.Lookup(n)
		if !ok || sc.Name != n {
			t.Errorf("Lookup(%q) = %+v, %v", n, sc, ok)
		}
		if sc.Arc && sc.ArcRealm == "" {
			t.Errorf("%s: Arc without realm", n)
		}
	}
	if _, ok := fakeimds.Lookup("nope"); ok {
		t.Error("Lookup(nope) succeeded")
	}
}

func TestPrepareArcRoot(t *testing.T) {
	root := t.TempDir()
	if err := fakeimds.PrepareArcRoot(root); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, fakeimds.ArcTokenDir)
	type entry struct {
		Size    int64
		Symlink bool
	}
	got := map[string]entry{}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		fi, err := os.Lstat(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		e := entry{Symlink: fi.Mode()&os.ModeSymlink != 0}
		if !e.Symlink {
			e.Size = fi.Size()
		}
		got[de.Name()] = e
	}
	want := map[string]entry{
		"good.key": {Size: int64(len(fakeimds.ArcKey))}, "big.key": {Size: 5000},
		"secret.txt": {Size: int64(len(fakeimds.ArcKey))}, "link.key": {Symlink: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
