// Package docs checks that README.md states what the code does: the exit
// codes, the support matrix and the handler's time bounds.
package docs

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the README text from the heading to the next heading of
// the same level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestExitCodesTable(t *testing.T) {
	sec := section(t, readme(t), "## Exit codes")
	row := regexp.MustCompile(`(?m)^\| (\d+) \|`)
	var documented []int
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		n, _ := strconv.Atoi(m[1])
		documented = append(documented, n)
	}
	var codes []int
	for _, c := range failure.Codes() {
		codes = append(codes, int(c))
	}
	sort.Ints(documented)
	sort.Ints(codes)
	if d := cmp.Diff(codes, documented); d != "" {
		t.Errorf("README exit codes differ from handler/failure (-code +README):\n%s", d)
	}
	for _, line := range strings.Split(sec, "\n") {
		for _, c := range []string{"| 22 |", "| 23 |"} {
			if strings.HasPrefix(line, c) && !strings.Contains(line, "transitioning") {
				t.Errorf("README row %q does not say transitioning", line)
			}
		}
	}
}

func TestSupportMatrix(t *testing.T) {
	if !strings.Contains(readme(t), release.MarkdownTable()) {
		t.Errorf("README does not contain the support matrix as distros renders it:\n%s", release.MarkdownTable())
	}
}
