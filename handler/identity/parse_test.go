package identity

import (
	"encoding/base64"
	"encoding/json"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
)

func isPrintable(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func TestParseInstance(t *testing.T) {
	tests := []struct {
		body    string
		want    Instance
		wantErr bool
	}{
		{`{"azEnvironment":"AzurePublicCloud","name":"vm1","resourceGroupName":"rg","subscriptionId":"s","vmScaleSetName":"ss","location":"eastus","osType":"Linux"}`,
			Instance{"AzurePublicCloud", "vm1", "rg", "s", "ss", "eastus"}, false},
		{`{"name":"vm1"}`, Instance{Name: "vm1"}, false},
		{`{}`, Instance{}, false},
		{`{"name":42,"resourceGroupName":null,"location":["x"]}`, Instance{}, false},
		{`{"name":"a\nb\u0000c"}`, Instance{Name: "abc"}, false},
		{`null`, Instance{}, true},
		{`[1]`, Instance{}, true},
		{`{"name":`, Instance{}, true},
		{``, Instance{}, true},
	}
	for _, tc := range tests {
		got, err := parseInstance([]byte(tc.body))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseInstance(%q) error = %v, wantErr %v", tc.body, err, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseInstance(%q) (-want +got):\n%s", tc.body, diff)
		}
	}
}

func FuzzParseInstance(f *testing.F) {
	for _, s := range []string{
		`{"azEnvironment":"AzurePublicCloud","name":"vm1","resourceGroupName":"rg1","subscriptionId":"x","vmScaleSetName":"","location":"westeurope"}`,
		`{"name":42}`, `{}`, `null`, `{"name":"\u2028\ud800"}`, `{"name":`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		inst, err := parseInstance(body)
		if err != nil {
			if inst != (Instance{}) {
				t.Fatalf("error %v with non-zero result %+v", err, inst)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		fields := map[string]string{
			"azEnvironment": inst.AzEnvironment, "name": inst.Name, "resourceGroupName": inst.ResourceGroup,
			"subscriptionId": inst.SubscriptionID, "vmScaleSetName": inst.VMScaleSetName, "location": inst.Location,
		}
		for k, v := range fields {
			if !isPrintable(v, 256) {
				t.Fatalf("field %s = %q is not short printable text", k, v)
			}
		}
		// Round trip: serving the parsed values yields the same values.
		again, _ := json.Marshal(fields)
		inst2, err := parseInstance(again)
		if err != nil || inst2 != inst {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", inst, again, inst2, err)
		}
	})
}

func TestParseTokenBody(t *testing.T) {
	enc := base64.RawURLEncoding
	tests := []struct {
		name    string
		body    string
		want    tokenInfo
		wantErr bool
		user    bool
	}{
		{name: "system", body: fakeimds.TokenBody(fakeimds.SystemMIResID), want: tokenInfo{true, fakeimds.SystemMIResID}},
		{name: "user", body: fakeimds.TokenBody(fakeimds.UserMIResID), want: tokenInfo{true, fakeimds.UserMIResID}, user: true},
		{name: "user, other case", body: `{"access_token":"a.` + enc.EncodeToString([]byte(`{"xms_mirid":"/x/providers/microsoft.managedidentity/USERASSIGNEDIDENTITIES/u"}`)) + `.c"}`,
			want: tokenInfo{true, "/x/providers/microsoft.managedidentity/USERASSIGNEDIDENTITIES/u"}, user: true},
		{name: "padded payload", body: `{"access_token":"a.` + base64.URLEncoding.EncodeToString([]byte(`{"xms_mirid":"m"}`)) + `.c"}`,
			want: tokenInfo{true, "m"}},
		{name: "no mirid", body: `{"access_token":"a.` + enc.EncodeToString([]byte(`{"aud":"x"}`)) + `.c"}`, want: tokenInfo{claimsRead: true}},
		{name: "opaque token", body: `{"access_token":"opaque"}`, want: tokenInfo{}},
		{name: "bad base64", body: `{"access_token":"a.!!!.c"}`, want: tokenInfo{}},
		{name: "no token", body: `{"token_type":"Bearer"}`, wantErr: true},
		{name: "empty token", body: `{"access_token":""}`, wantErr: true},
		{name: "token not a string", body: `{"access_token":5}`, wantErr: true},
		{name: "not json", body: `{"access_token": `, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTokenBody([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(tokenInfo{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.userAssigned() != tc.user {
				t.Errorf("userAssigned = %v, want %v", got.userAssigned(), tc.user)
			}
		})
	}
}

func FuzzParseTokenBody(f *testing.F) {
	f.Add([]byte(fakeimds.TokenBody(fakeimds.SystemMIResID)))
	f.Add([]byte(fakeimds.TokenBody(fakeimds.UserMIResID)))
	f.Add([]byte(`{"access_token":"a.e30.c"}`))
	f.Add([]byte(`{"access_token":"x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := parseTokenBody(body)
		if err != nil {
			if info != (tokenInfo{}) {
				t.Fatalf("error with non-zero info %+v", info)
			}
			return
		}
		var r struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(body, &r) != nil || r.AccessToken == "" {
			t.Fatalf("accepted a body without access_token: %q", body)
		}
		if !info.claimsRead && info.miResID != "" {
			t.Fatalf("resource ID %q without readable claims", info.miResID)
		}
		if !isPrintable(info.miResID, 512) {
			t.Fatalf("resource ID %q is not short printable text", info.miResID)
		}
		// The token itself is never handed back.
		if len(r.AccessToken) > 8 && strings.Contains(info.miResID, r.AccessToken) {
			t.Fatalf("token leaked into the result")
		}
	})
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body string
		want imdsError
	}{
		{fakeimds.MissingBody, imdsError{"invalid_request", "Identity not found"}},
		{`{"error":"unknown"}`, imdsError{Code: "unknown"}},
		{`{"error":{"code":"x"}}`, imdsError{}},
		{`not json`, imdsError{}},
		{`{"error":"a\r\nb","error_description":"` + strings.Repeat("d", 300) + `"}`, imdsError{"ab", strings.Repeat("d", 200)}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, parseErrorBody([]byte(tc.body))); diff != "" {
			t.Errorf("parseErrorBody(%q) (-want +got):\n%s", tc.body, diff)
		}
	}
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(fakeimds.MissingBody))
	f.Add([]byte(fakeimds.NoMetadataBody))
	f.Add([]byte(`{"error":5}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := parseErrorBody(body)
		if !isPrintable(e.Code, 200) || !isPrintable(e.Description, 200) {
			t.Fatalf("unsafe fields %+v", e)
		}
		if !json.Valid(body) && e != (imdsError{}) {
			t.Fatalf("fields %+v from invalid JSON", e)
		}
		again, _ := json.Marshal(map[string]string{"error": e.Code, "error_description": e.Description})
		if e2 := parseErrorBody(again); e2 != e {
			t.Fatalf("round trip %+v -> %+v", e, e2)
		}
	})
}

func TestParseRealm(t *testing.T) {
	tests := []struct {
		values []string
		want   string
		ok     bool
	}{
		{[]string{"Basic realm=/var/opt/azcmagent/tokens/a.key"}, "/var/opt/azcmagent/tokens/a.key", true},
		{[]string{`basic REALM="/var/opt/azcmagent/tokens/a.key"`}, "/var/opt/azcmagent/tokens/a.key", true},
		{[]string{"Bearer realm=x", "Basic realm=/p.key"}, "/p.key", true},
		{[]string{"Basic realm="}, "", false},
		{[]string{"Basic"}, "", false},
		{[]string{"Digest realm=/x"}, "", false},
		{nil, "", false},
	}
	for _, tc := range tests {
		got, ok := parseRealm(tc.values)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRealm(%q) = %q, %v; want %q, %v", tc.values, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRealm(f *testing.F) {
	f.Add("Basic realm=/var/opt/azcmagent/tokens/a.key")
	f.Add(`Basic realm="x"`)
	f.Add("Basic realm=\"")
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := parseRealm([]string{v})
		if ok == (p == "") {
			t.Fatalf("parseRealm(%q) = %q, %v", v, p, ok)
		}
		if ok && !strings.Contains(v, p) {
			t.Fatalf("realm %q is not part of %q", p, v)
		}
		// Whatever the realm, only paths directly under the token
		// directory, named *.key, pass the syntactic check.
		if ok && checkArcKeyPath(p) == nil {
			if path.Dir(p) != ArcTokenDir || !strings.HasSuffix(p, ".key") || strings.Contains(p, "..") || path.Clean(p) != p {
				t.Fatalf("checkArcKeyPath accepted %q", p)
			}
		}
	})
}

func FuzzCheckArcKeyPath(f *testing.F) {
	for _, s := range []string{ArcTokenDir + "/a.key", ArcTokenDir + "/../x.key", "/etc/shadow", ArcTokenDir + "/.key", ArcTokenDir + "//a.key"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkArcKeyPath(p) != nil {
			return
		}
		if path.Dir(p) != ArcTokenDir || path.Clean(p) != p || !strings.HasSuffix(p, ".key") ||
			strings.Contains(p, "..") || strings.ContainsRune(p, 0) || path.Base(p) == ".key" {
			t.Fatalf("accepted %q", p)
		}
	})
}

func FuzzJWTMIResID(f *testing.F) {
	f.Add(fakeimds.Token(fakeimds.UserMIResID))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		m, ok := jwtMIResID(tok)
		if !ok && m != "" {
			t.Fatalf("resource ID %q from unreadable claims", m)
		}
		if !isPrintable(m, 512) {
			t.Fatalf("unsafe resource ID %q", m)
		}
	})
}
