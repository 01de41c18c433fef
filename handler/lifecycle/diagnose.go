package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/distros"
	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// result is the verdict of a diagnose check.
type result string

// The verdicts; only resultFail comes with a Code.
const (
	resultOK      result = "ok"
	resultWarning result = "warning"
	resultFail    result = "FAIL"
	resultSkipped result = "skipped"
)

// Check is one row of the diagnose report.
type Check struct {
	Name   string `json:"check"`
	Result result `json:"result"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// Code is the exit code install/enable would give for a failed check.
	Code failure.Code `json:"code,omitempty"`
}

// diagnoseBudget bounds a whole diagnose run.
const diagnoseBudget = 4 * time.Minute

// diagnose runs every check read-only: no installs, no status file, no lock.
func diagnose(ctx context.Context, d Deps, args []string) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(d.Stderr)
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	if err := fs.Parse(args); err != nil {
		return int(failure.Usage)
	}
	ctx, cancel := context.WithTimeout(ctx, diagnoseBudget)
	defer cancel()
	checks := runDiagnosis(ctx, d)
	if *asJSON {
		enc := json.NewEncoder(d.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(checks)
	} else {
		printChecks(d.Stdout, checks)
	}
	for _, c := range checks {
		if c.Result == resultFail {
			return int(c.Code)
		}
	}
	return 0
}

func printChecks(w io.Writer, checks []Check) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL\tFIX")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Result, oneLine(c.Detail), oneLine(c.Fix))
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// fromErr turns a classified error into a failed check.
func fromErr(name string, err error) Check {
	c := Check{Name: name, Result: resultFail, Code: failure.CodeOf(err)}
	var fe *failure.Error
	if errors.As(err, &fe) {
		c.Detail, c.Fix = fe.Msg, ""
		if fe.Err != nil {
			c.Detail += ": " + fe.Err.Error()
		}
	} else {
		c.Detail = err.Error()
	}
	return c
}

// packagesTarget is the package endpoint diagnose tries: the key file below
// packages.microsoft.com or below the private mirror.
type packagesTarget struct {
	url    string
	shown  string // what the table shows of url
	mirror bool
	red    redactor
}

// hostOf returns scheme://host of a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Scheme + "://" + u.Host
}

// judgePackages judges the package endpoint's HTTP answer: any answer proves
// the network path, but only 2xx/3xx show a usable repository.
func judgePackages(name string, t packagesTarget, status int, proxyAdvice string) Check {
	what := "packages.microsoft.com"
	if t.mirror {
		what = "the mirror"
	}
	c := Check{Name: name, Result: resultFail, Code: failure.Dependency, Detail: fmt.Sprintf("%s answered HTTP %d", t.shown, status)}
	switch {
	case status >= 200 && status < 400:
		return Check{Name: name, Result: resultOK, Detail: c.Detail}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		c.Detail += " (access refused)"
		c.Fix = "a firewall, proxy or WAF in front of " + what + " refuses this VM, or it wants credentials (the extension sends none): allow the VM's address"
	case status == http.StatusNotFound:
		c.Detail += ": no keys/microsoft.asc there"
		c.Fix = "the URL is not a mirror of packages.microsoft.com's layout: point mirror.url at the folder that holds keys/, repos/, rhel/ …"
		if !t.mirror {
			c.Fix = "something between the VM and packages.microsoft.com answers for it (a proxy or DNS override); check them"
		}
	case status == http.StatusProxyAuthRequired:
		c.Detail += ": the proxy wants authentication"
		c.Fix = failure.ProxyCredentials + proxyAdvice
	case status >= 500:
		c.Detail += " (server error)"
		c.Fix = what + " or a proxy in between is failing; check its health and logs, then try again"
	default:
		c.Fix = what + " does not serve the repository to this VM; check its configuration"
	}
	return c
}

func packagesCheck(ctx context.Context, in *distros.Installer) Check {
	got, err := in.Query(ctx, "aadsshlogin", "aadsshlogin-selinux")
	switch {
	case err != nil:
		return Check{Name: "packages", Result: resultWarning, Detail: "cannot query the package manager: " + err.Error()}
	case len(got) == 0:
		return Check{Name: "packages", Result: resultWarning, Detail: "aadsshlogin is not installed", Fix: "set the extension (enable installs it)"}
	}
	names := make([]string, 0, len(got))
	for n, v := range got {
		names = append(names, n+" "+v)
	}
	sort.Strings(names)
	return Check{Name: "packages", Result: resultOK, Detail: strings.Join(names, ", ")}
}

// endpointChecks tries the outbound endpoints of the machine's cloud through
// the proxy configured in the environment, as the package manager and the
// sign-in packages will.
//
// The package endpoint is judged by its status code (judgePackages); for
// Entra ID and RBAC any HTTP answer shows the network path is open (their
// root answers 404 or 401 by design), except the proxy's 407.
func endpointChecks(ctx context.Context, d Deps, ep cloud.Endpoints, arc bool, pkgs packagesTarget, proxyAdvice string) []Check {
	client := &http.Client{Transport: d.outbound(), Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type target struct {
		name, url, shown string
		packages         bool
	}
	targets := []target{{"endpoint: packages", pkgs.url, pkgs.shown, true}}
	if ep.Login != "" {
		targets = append(targets, target{"endpoint: Entra ID", ep.Login, ep.Login, false})
	}
	if ep.RBAC != "" {
		targets = append(targets, target{"endpoint: RBAC", ep.RBAC, ep.RBAC, false})
	}
	var checks []Check
	for _, tg := range targets {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, tg.url, nil)
		if err != nil {
			checks = append(checks, Check{Name: tg.name, Result: resultFail, Code: failure.Dependency, Detail: tg.shown + ": " + pkgs.red.str(causeOf(err))})
			continue
		}
		resp, err := client.Do(req)
		if err == nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
			// Some servers (artifact stores) do not implement HEAD: ask for
			// the first byte of the file instead.
			resp.Body.Close()
			req = req.Clone(ctx)
			req.Method = http.MethodGet
			req.Header.Set("Range", "bytes=0-0")
			resp, err = client.Do(req)
		}
		if err != nil {
			checks = append(checks, Check{Name: tg.name, Result: resultFail, Code: failure.Dependency, Detail: tg.shown + ": " + pkgs.red.str(causeOf(err)),
				Fix: "allow outbound HTTPS to it; behind a proxy, " + proxyAdvice})
			continue
		}
		resp.Body.Close()
		switch {
		case tg.packages:
			checks = append(checks, judgePackages(tg.name, pkgs, resp.StatusCode, proxyAdvice))
		case resp.StatusCode == http.StatusProxyAuthRequired:
			checks = append(checks, Check{Name: tg.name, Result: resultFail, Code: failure.Dependency,
				Detail: tg.shown + " answered HTTP 407: the proxy wants authentication",
				Fix:    failure.ProxyCredentials + proxyAdvice})
		default:
			checks = append(checks, Check{Name: tg.name, Result: resultOK, Detail: fmt.Sprintf("%s answered HTTP %d (reachable)", tg.shown, resp.StatusCode)})
		}
	}
	return checks
}

// causeOf is an HTTP client error without the URL it quotes (*url.Error),
// which the row names already in the form it may show.
func causeOf(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// outbound is the transport for internet endpoints: it honours the proxy
// variables the agent's service passes on (unlike IMDS traffic).
func (d Deps) outbound() http.RoundTripper {
	if d.Outbound != nil {
		return d.Outbound
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = func(r *http.Request) (*url.URL, error) { return proxyFor(d.Getenv, r.URL) }
	return t
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
