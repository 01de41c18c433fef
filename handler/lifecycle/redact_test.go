package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/config"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

func TestRedactor(t *testing.T) {
	const secretURL = "https://Mirror.Example.com/tok3n-s3cret/"
	const base = "https://mirror.example.com/tok3n-s3cret"
	line := "configured the repository " + base + "/repos/microsoft-debian-bookworm-prod in /etc/apt/sources.list.d/microsoft-prod.list"
	tests := []struct {
		name string
		cfg  config.Config
		in   string
		want string
	}{
		{name: "protected URL with a path", cfg: config.Config{Mirror: &config.Mirror{URL: secretURL, Secret: true}}, in: line,
			want: "configured the repository https://Mirror.Example.com/…/repos/microsoft-debian-bookworm-prod in /etc/apt/sources.list.d/microsoft-prod.list"},
		{name: "raw spelling too", cfg: config.Config{Mirror: &config.Mirror{URL: secretURL, Secret: true}}, in: "at " + secretURL + "x",
			want: "at https://Mirror.Example.com/…/x"},
		{name: "public URL is shown", cfg: config.Config{Mirror: &config.Mirror{URL: secretURL}}, in: line, want: line},
		{name: "no mirror", in: line, want: line},
		{name: "protected URL without a path", cfg: config.Config{Mirror: &config.Mirror{URL: "https://mirror.example.com", Secret: true}},
			in: "under https://mirror.example.com/repos", want: "under https://mirror.example.com/repos"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := redactorFor(tc.cfg, base)
			if diff := cmp.Diff(tc.want, r.str(tc.in)); diff != "" {
				t.Errorf("str (-want +got):\n%s", diff)
			}
			// Errors keep their exit code and chain.
			err := r.err(failure.Wrap(failure.Dependency, context.DeadlineExceeded, "%s", tc.in))
			if got := failure.CodeOf(err); got != failure.Dependency {
				t.Errorf("code %d, want %d", got, failure.Dependency)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Error("the chain is lost")
			}
			if diff := cmp.Diff(tc.want+": "+context.DeadlineExceeded.Error(), err.Error()); diff != "" {
				t.Errorf("err (-want +got):\n%s", diff)
			}
			var buf bytes.Buffer
			_ = r.logger(log.NewLogfmtLogger(&buf)).Log("line", tc.in, "err", fmt.Errorf("x: %s", tc.in))
			if bytes.Contains(buf.Bytes(), []byte("tok3n-s3cret")) != strings.Contains(tc.want, "tok3n-s3cret") {
				t.Errorf("log line: %s", buf.String())
			}
		})
	}
}
