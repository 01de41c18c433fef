package runtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// recorder is a TB that keeps what the fake reported.
type recorder struct{ errors []string }

func (*recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestFakeIsStrict(t *testing.T) {
	tests := []struct {
		name       string
		responses  map[string]Response
		respond    func(run.Cmd) (Response, bool)
		cmd        run.Cmd
		wantErrors []string
		wantErr    bool
	}{
		{name: "unexpected command fails the test, named",
			responses:  map[string]Response{"apt-get install -y aadsshlogin": {}},
			cmd:        run.Cmd{Path: "apt-get", Args: []string{"install", "-y", "aadsshlogin-selinux"}},
			wantErrors: []string{`unexpected command "apt-get install -y aadsshlogin-selinux"`}, wantErr: true},
		{name: "empty fake accepts nothing",
			cmd:        run.Cmd{Path: "dpkg", Args: []string{"--audit"}},
			wantErrors: []string{`unexpected command "dpkg --audit"`}, wantErr: true},
		{name: "prefix match answers",
			responses: map[string]Response{"dpkg": {Stdout: "x"}},
			cmd:       run.Cmd{Path: "dpkg", Args: []string{"--audit"}}},
		{name: "Respond answers",
			respond: func(run.Cmd) (Response, bool) { return Response{}, true },
			cmd:     run.Cmd{Path: "sshd", Args: []string{"-T"}}},
		{name: "scripted failure is not an unexpected command",
			responses: map[string]Response{"sshd -T": {ExitCode: 255}},
			cmd:       run.Cmd{Path: "sshd", Args: []string{"-T"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			f := New(rec, tc.responses)
			f.Respond = tc.respond
			_, err := f.Run(context.Background(), tc.cmd)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantErrors, rec.errors); diff != "" {
				t.Errorf("test failures (-want +got):\n%s", diff)
			}
			if len(tc.wantErrors) > 0 && (err == nil || !strings.Contains(err.Error(), tc.cmd.String())) {
				t.Errorf("error %v does not name %q", err, tc.cmd.String())
			}
			if diff := cmp.Diff([]string{tc.cmd.String()}, f.Lines()); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}
