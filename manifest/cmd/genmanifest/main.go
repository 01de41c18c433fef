// Command genmanifest renders the extension's publishing definition
// (manifest/publish/extension.xml, a text/template) for one version and checks
// that the result is a well-formed ExtensionImage document.
//
//	genmanifest -version 1.0.0.1 [-template manifest/publish/extension.xml] [-media-link URL] [-out FILE]
//
// Without -out (or with -out -) the document goes to standard output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/manifest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit: 0 success, 1 failure, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genmanifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "extension version, four numbers such as 1.0.0.1 (required; make package passes the VERSION file)")
	tmplPath := fs.String("template", "manifest/publish/extension.xml", "publishing-definition template")
	mediaLink := fs.String("media-link", "", "package download URL to put in MediaLink (default empty: the publishing pipeline sets it)")
	out := fs.String("out", "-", "output file, - for standard output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "genmanifest: unexpected argument %q; all inputs are flags (see -help)\n", fs.Arg(0))
		return 2
	}
	if *version == "" {
		fmt.Fprintln(stderr, "genmanifest: -version is required, e.g. -version $(cat VERSION)")
		return 2
	}
	tmpl, err := os.ReadFile(*tmplPath)
	if err != nil {
		fmt.Fprintf(stderr, "genmanifest: read template: %v; run from the repository root or pass -template\n", err)
		return 1
	}
	doc, err := manifest.Render(tmpl, manifest.RenderInput{Version: *version, MediaLink: *mediaLink})
	if err != nil {
		fmt.Fprintf(stderr, "genmanifest: %v\n", err)
		return 1
	}
	if *out == "-" {
		if _, err := stdout.Write(doc); err != nil {
			fmt.Fprintf(stderr, "genmanifest: write output: %v\n", err)
			return 1
		}
		return 0
	}
	if err := atomicfile.WriteFile(*out, doc, 0o644); err != nil {
		fmt.Fprintf(stderr, "genmanifest: %v; check that the output folder exists and is writable\n", err)
		return 1
	}
	return 0
}
