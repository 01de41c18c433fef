// Package manifest holds the extension's publishing definition (an
// ExtensionImage XML document) and the deployment examples under deploy/,
// renders the publishing definition for a given version, and checks that the
// publisher, type and version agree across all of them.
package manifest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"unicode"
)

// Names every deployment artefact must agree on.
const (
	// Publisher is the extension publisher (ProviderNameSpace in the XML).
	Publisher = "Microsoft.Azure.ActiveDirectory"
	// Type is the extension type.
	Type = "AADSSHLoginForLinux"
	// Namespace is the XML namespace of an ExtensionImage document.
	Namespace = "http://schemas.microsoft.com/windowsazure"
)

// ExtensionImage is the subset of the publishing definition that this
// project sets. Field order follows the element order of Microsoft's own
// Linux extension definitions.
type ExtensionImage struct {
	XMLName              xml.Name `xml:"http://schemas.microsoft.com/windowsazure ExtensionImage"`
	ProviderNameSpace    string   `xml:"ProviderNameSpace"`
	Type                 string   `xml:"Type"`
	Version              string   `xml:"Version"`
	Label                string   `xml:"Label"`
	HostingResources     string   `xml:"HostingResources"`
	MediaLink            string   `xml:"MediaLink"`
	Description          string   `xml:"Description"`
	BlockRoleUponFailure bool     `xml:"BlockRoleUponFailure"`
	IsInternalExtension  bool     `xml:"IsInternalExtension"`
	Eula                 string   `xml:"Eula"`
	PrivacyURI           string   `xml:"PrivacyUri"`
	HomepageURI          string   `xml:"HomepageUri"`
	IsJSONExtension      bool     `xml:"IsJsonExtension"`
	CompanyName          string   `xml:"CompanyName"`
	SupportedOS          string   `xml:"SupportedOS"`
}

// DecodeExtensionImage parses a publishing definition. It rejects documents
// whose root is not an ExtensionImage in the Azure namespace.
func DecodeExtensionImage(data []byte) (ExtensionImage, error) {
	var img ExtensionImage
	if err := xml.Unmarshal(data, &img); err != nil {
		return ExtensionImage{}, fmt.Errorf("publishing definition is not a valid ExtensionImage XML document: %w; fix the template under manifest/publish", err)
	}
	return img, nil
}

// RenderInput is what the template needs.
type RenderInput struct {
	// Version must be four dot-separated numbers (see ParseVersion).
	Version string
	// MediaLink is the package's download address; empty lets the
	// publishing pipeline fill it in.
	MediaLink string
}

// templateData is what the template sees: values already escaped for XML.
type templateData struct {
	Version   string
	MediaLink string
}

// Render fills the publishing-definition template tmpl with in and checks
// the result: it must parse as an ExtensionImage, carry in.Version and
// in.MediaLink unchanged, and name this extension's publisher, type and OS.
func Render(tmpl []byte, in RenderInput) ([]byte, error) {
	v, err := ParseVersion(in.Version)
	if err != nil {
		return nil, err
	}
	if err := checkMediaLink(in.MediaLink); err != nil {
		return nil, err
	}
	t, err := template.New("extension.xml").Option("missingkey=error").Parse(string(tmpl))
	if err != nil {
		return nil, fmt.Errorf("parse publishing-definition template: %w; fix its {{...}} actions", err)
	}
	data := templateData{Version: escapeXML(v.String()), MediaLink: escapeXML(in.MediaLink)}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("render publishing-definition template: %w; the template may only use .Version and .MediaLink", err)
	}
	img, err := DecodeExtensionImage(out.Bytes())
	if err != nil {
		return nil, err
	}
	if err := checkImage(img, v.String(), in.MediaLink); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// checkImage verifies the fields a rendered definition must carry.
func checkImage(img ExtensionImage, version, mediaLink string) error {
	checks := []struct{ field, got, want string }{
		{"ProviderNameSpace", img.ProviderNameSpace, Publisher},
		{"Type", img.Type, Type},
		{"Version", img.Version, version},
		{"MediaLink", img.MediaLink, mediaLink},
		{"SupportedOS", img.SupportedOS, "Linux"},
		{"HostingResources", img.HostingResources, "VmRole"},
	}
	for _, c := range checks {
		if c.got != c.want {
			return fmt.Errorf("rendered publishing definition has %s %q, want %q; fix the template under manifest/publish", c.field, c.got, c.want)
		}
	}
	if !img.IsJSONExtension {
		return fmt.Errorf("rendered publishing definition lacks IsJsonExtension=true; the handler reads JSON settings, so set it in the template")
	}
	return nil
}

// checkMediaLink accepts an empty link or an absolute http(s) URL made of
// printable non-space characters.
func checkMediaLink(s string) error {
	if s == "" {
		return nil
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("media link %q contains a space, control or non-ASCII character; percent-encode it", s)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("media link %q is not a URL: %w; pass the package's blob address", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("media link %q is not an absolute http(s) URL; pass the package's blob address or leave it empty", s)
	}
	return nil
}

func escapeXML(s string) string {
	var b strings.Builder
	// xml.EscapeText only fails when the writer fails; strings.Builder never does.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
