package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The real agent never runs a failed command again until a new goal state
// (enable also after an agent restart), so no message may promise a retry;
// they end with failure.SetAgain instead.
var retryPromise = regexp.MustCompile(`(?i)(agent (will )?retr|retries with the next|next run (waits|will)|will retry|and retry\b|then retry\b|retry later)`)

func TestNoRetryPromisesInMessages(t *testing.T) {
	var hits []string
	for _, dir := range []string{"../../handler", "../../distros"} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && retryPromise.MatchString(s) {
						hits = append(hits, p+": "+s)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hits {
		t.Errorf("message promises a retry the agent does not make: %s", h)
	}
}
