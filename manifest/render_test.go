package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const templatePath = "publish/extension.xml"

func readTemplate(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatalf("read the publishing template: %v", err)
	}
	return b
}

// identity is the part of an ExtensionImage that must never drift.
type identity struct {
	ProviderNameSpace, Type, Version, MediaLink, HostingResources, CompanyName, SupportedOS string
	BlockRoleUponFailure, IsJSONExtension                                                   bool
}

func identityOf(img ExtensionImage) identity {
	return identity{
		ProviderNameSpace: img.ProviderNameSpace, Type: img.Type, Version: img.Version, MediaLink: img.MediaLink,
		HostingResources: img.HostingResources, CompanyName: img.CompanyName, SupportedOS: img.SupportedOS,
		BlockRoleUponFailure: img.BlockRoleUponFailure, IsJSONExtension: img.IsJSONExtension,
	}
}

func TestTemplateIsExtensionImage(t *testing.T) {
	img, err := DecodeExtensionImage(readTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	want := identity{
		ProviderNameSpace: Publisher, Type: Type, Version: "{{.Version}}", MediaLink: "{{.MediaLink}}",
		HostingResources: "VmRole", CompanyName: "Microsoft", SupportedOS: "Linux",
		BlockRoleUponFailure: false, IsJSONExtension: true,
	}
	if diff := cmp.Diff(want, identityOf(img)); diff != "" {
		t.Errorf("template fields (-want +got):\n%s", diff)
	}
	for name, v := range map[string]string{"Label": img.Label, "Description": img.Description, "Eula": img.Eula, "PrivacyUri": img.PrivacyURI, "HomepageUri": img.HomepageURI} {
		if strings.TrimSpace(v) == "" {
			t.Errorf("template element %s is empty", name)
		}
	}
}

func TestRender(t *testing.T) {
	tmpl := readTemplate(t)
	tests := []struct {
		name    string
		tmpl    string // empty: the real template
		in      RenderInput
		want    identity // checked on success
		wantErr string
	}{
		{
			name: "VERSION default",
			in:   RenderInput{Version: "1.0.0.1"},
			want: identity{ProviderNameSpace: Publisher, Type: Type, Version: "1.0.0.1", HostingResources: "VmRole", CompanyName: "Microsoft", SupportedOS: "Linux", IsJSONExtension: true},
		},
		{
			name: "large version and media link with query",
			in:   RenderInput{Version: "1.0.3162.1", MediaLink: "https://store.example.net/c/AADSSHLoginForLinux-1.0.3162.1.zip?sv=2024&sig=a%2Fb&x=1"},
			want: identity{ProviderNameSpace: Publisher, Type: Type, Version: "1.0.3162.1", MediaLink: "https://store.example.net/c/AADSSHLoginForLinux-1.0.3162.1.zip?sv=2024&sig=a%2Fb&x=1", HostingResources: "VmRole", CompanyName: "Microsoft", SupportedOS: "Linux", IsJSONExtension: true},
		},
		{name: "three-part version", in: RenderInput{Version: "1.0.1"}, wantErr: "3 dot-separated parts"},
		{name: "empty version", in: RenderInput{Version: ""}, wantErr: "dot-separated parts"},
		{name: "version with letters", in: RenderInput{Version: "1.0.0.x"}, wantErr: "not a decimal number"},
		{name: "version injection", in: RenderInput{Version: "1.0.0.1</Version><Type>Evil</Type><Version>1"}, wantErr: "part 4"},
		{name: "media link not a URL", in: RenderInput{Version: "1.0.0.1", MediaLink: "package.zip"}, wantErr: "not an absolute http(s) URL"},
		{name: "media link with space", in: RenderInput{Version: "1.0.0.1", MediaLink: "https://a.example/x y.zip"}, wantErr: "space, control or non-ASCII"},
		{name: "media link ftp", in: RenderInput{Version: "1.0.0.1", MediaLink: "ftp://a.example/x.zip"}, wantErr: "not an absolute http(s) URL"},
		{name: "template syntax error", tmpl: "<ExtensionImage>{{.Version</ExtensionImage>", in: RenderInput{Version: "1.0.0.1"}, wantErr: "parse publishing-definition template"},
		{name: "template unknown field", tmpl: "<ExtensionImage>{{.Regions}}</ExtensionImage>", in: RenderInput{Version: "1.0.0.1"}, wantErr: "render publishing-definition template"},
		{name: "template not XML", tmpl: "<ExtensionImage><Version>{{.Version}}</ExtensionImage>", in: RenderInput{Version: "1.0.0.1"}, wantErr: "not a valid ExtensionImage"},
		{name: "template wrong namespace", tmpl: `<ExtensionImage xmlns="urn:other"><Version>{{.Version}}</Version></ExtensionImage>`, in: RenderInput{Version: "1.0.0.1"}, wantErr: "not a valid ExtensionImage"},
		{name: "template wrong type", tmpl: strings.Replace(string(tmpl), "<Type>AADSSHLoginForLinux</Type>", "<Type>AADLoginForLinux</Type>", 1), in: RenderInput{Version: "1.0.0.1"}, wantErr: `Type "AADLoginForLinux"`},
		{name: "template fixed version", tmpl: strings.Replace(string(tmpl), "{{.Version}}", "1.0.0.0", 1), in: RenderInput{Version: "1.0.0.1"}, wantErr: `Version "1.0.0.0"`},
		{name: "template without IsJsonExtension", tmpl: strings.Replace(string(tmpl), "<IsJsonExtension>true</IsJsonExtension>", "", 1), in: RenderInput{Version: "1.0.0.1"}, wantErr: "IsJsonExtension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tmpl
			if tt.tmpl != "" {
				src = []byte(tt.tmpl)
			}
			out, err := Render(src, tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Render succeeded, want error containing %q; output:\n%s", tt.wantErr, out)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render error %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			img, err := DecodeExtensionImage(out)
			if err != nil {
				t.Fatalf("rendered document does not parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, identityOf(img)); diff != "" {
				t.Errorf("rendered fields (-want +got):\n%s", diff)
			}
			if strings.Contains(string(out), "{{") {
				t.Errorf("rendered document still contains a template action:\n%s", out)
			}
		})
	}
}

// FuzzRenderMediaLink checks that whatever media link Render accepts comes
// back unchanged from the rendered XML (escaping is right) and that the
// document stays this extension's.
func FuzzRenderMediaLink(f *testing.F) {
	tmpl := readTemplate(f)
	for _, s := range []string{"", "https://a.example/p.zip", "https://a.example/p.zip?a=1&b=<2>", "http://h/'\"]]>", "https://a.example/\x00", "javascript:x", "https://a.example/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		out, err := Render(tmpl, RenderInput{Version: "1.0.0.1", MediaLink: link})
		if err != nil {
			if out != nil {
				t.Fatalf("Render(%q) failed but returned output", link)
			}
			return
		}
		img, err := DecodeExtensionImage(out)
		if err != nil {
			t.Fatalf("Render(%q) returned XML that does not parse: %v", link, err)
		}
		if img.MediaLink != link || img.Version != "1.0.0.1" || img.Type != Type || img.ProviderNameSpace != Publisher {
			t.Fatalf("Render(%q) round trip: MediaLink %q, Version %q, Type %q, ProviderNameSpace %q", link, img.MediaLink, img.Version, img.Type, img.ProviderNameSpace)
		}
	})
}

// TestRepositoryLinksResolve checks that every link from the publishing
// template into this repository (the Eula, for example) names a file the
// repository has, so the portal never shows a dead licence link.
func TestRepositoryLinksResolve(t *testing.T) {
	const prefix = "https://github.com/Azure/aadsshlogin-extension-linux/blob/main/"
	img, err := DecodeExtensionImage(readTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for name, v := range map[string]string{"Eula": img.Eula, "PrivacyUri": img.PrivacyURI, "HomepageUri": img.HomepageURI} {
		rel, ok := strings.CutPrefix(strings.TrimSpace(v), prefix)
		if !ok {
			continue
		}
		links++
		if rel == "" || strings.Contains(rel, "..") {
			t.Errorf("%s %q does not name a file in the repository", name, v)
			continue
		}
		if fi, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(rel))); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s links to %s, which the repository does not have as a file (%v)", name, rel, err)
		}
	}
	if links == 0 {
		t.Errorf("no template link points into the repository (%s…); the Eula is expected to", prefix)
	}
}
