package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// probeIMDS asks IMDS once (with transient retries) for a token.
func (s settings) probeIMDS(ctx context.Context) probeResult {
	u := s.imdsBase + tokenPath + "?api-version=" + imdsTokenAPIVersion + "&resource=" + url.QueryEscape(SignInResource)
	resp, body, st, err := s.get(ctx, u, "")
	if err != nil {
		return probeResult{state: failed, err: s.unreachable(s.imdsBase, st, err)}
	}
	return s.classify(AzureVM, resp, body, st)
}

// classify turns the final answer of a token request into a verdict.
func (s settings) classify(kind Kind, resp *http.Response, body []byte, st stats) probeResult {
	service := "IMDS"
	if kind == Arc {
		service = "Azure Arc HIMDS"
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusOK:
		tok, err := parseTokenBody(body)
		if err != nil {
			return probeResult{state: failed, err: failure.Wrap(failure.Dependency, err,
				"%s answered HTTP 200 but not with a token response; check that nothing intercepts "+
					"requests to it (IMDS must not be proxied), "+failure.SetAgain, service)}
		}
		if kind == AzureVM && tok.userAssigned() {
			s.logger.Log("event", "token-user-assigned", "xms_mirid", tok.miResID)
			return probeResult{state: userAssigned, miResID: tok.miResID}
		}
		if !tok.claimsRead {
			s.logger.Log("event", "token-claims-unreadable", "assumed", "system-assigned")
		}
		return probeResult{state: present}
	case code == http.StatusBadRequest:
		e := parseErrorBody(body)
		if e.Code == "invalid_request" {
			s.logger.Log("event", "identity-not-found", "status", code, "error", e.Code, "description", e.Description)
			return probeResult{state: missing, errCode: e.Code}
		}
	}
	e := parseErrorBody(body)
	s.logger.Log("event", "token-request-failed", "status", code, "error", e.Code, "description", e.Description, "attempts", st.attempts)
	if transient(resp, nil) {
		return probeResult{state: failed, err: failure.New(failure.Dependency,
			"%s kept answering HTTP %d%s to the managed-identity token request (%d attempt(s) over %s); "+
				"the service is updating, throttled or failing: wait a few minutes, "+failure.SetAgain+"; "+
				"if it persists, check the VM's managed identity (`az vm identity show`)",
			service, code, errorSuffix(body), st.attempts, st.elapsed.Round(time.Second))}
	}
	return probeResult{state: failed, err: failure.New(failure.Dependency,
		"%s refused the managed-identity token request with HTTP %d%s (not retried); check that requests to "+
			"it are not proxied or rewritten and that the machine's managed identity is enabled, "+failure.SetAgain,
		service, code, errorSuffix(body))}
}

// errorSuffix renders IMDS's error code and description for a message.
func errorSuffix(body []byte) string {
	e := parseErrorBody(body)
	switch {
	case e.Code != "" && e.Description != "":
		return fmt.Sprintf(", error %q (%s)", e.Code, e.Description)
	case e.Code != "":
		return fmt.Sprintf(", error %q", e.Code)
	}
	return ""
}

// unreachable classifies a transport failure (after retries) as exit 52 with
// a network/proxy hint. It is never exit 22.
func (s settings) unreachable(target string, st stats, err error) error {
	if errors.Is(err, context.Canceled) {
		return interrupted(err)
	}
	cause := "no answer"
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = "connection refused"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		cause = "no route to host"
	case errors.Is(err, context.DeadlineExceeded):
		cause = "timed out"
	case errors.Is(err, errBodyTooLarge):
		cause = "oversized response"
	case errors.Is(err, errNoTimeLeft):
		cause = "out of time"
	}
	return failure.Wrap(failure.Dependency, err,
		"cannot reach %s (%s after %d attempt(s) over %s). The handler never sends IMDS traffic through a proxy: "+
			"make sure 169.254.169.254 is reachable directly (no firewall or iptables rule or appliance blocking it; "+
			"IMDS must not be proxied: behind a proxy, %s), "+failure.SetAgain,
		target, cause, st.attempts, st.elapsed.Round(time.Second), s.proxyAdvice())
}

// proxyAdvice is release.ProxyAdvice for the machine under root (an
// unreadable os-release gives the advice naming both agent units).
func (s settings) proxyAdvice() string {
	rel, _ := release.DetectRelease(s.root)
	return release.ProxyAdvice(rel, s.isArc())
}

// fixCommand is the az command that assigns a system identity, with the
// names filled in when known and placeholders otherwise.
func fixCommand(inst Instance) string {
	rg := shellWord(inst.ResourceGroup, "<resource-group>")
	if inst.VMScaleSetName != "" {
		return fmt.Sprintf("az vmss identity assign -g %s -n %s", rg, shellWord(inst.VMScaleSetName, "<scale-set-name>"))
	}
	return fmt.Sprintf("az vm identity assign -g %s -n %s", rg, shellWord(inst.Name, "<vm-name>"))
}

// setAgain is failure.SetAgain with the names IMDS gave (shell-safe).
func setAgain(inst Instance) string {
	return failure.SetAgainFor(shellWord(inst.ResourceGroup, ""), shellWord(inst.Name, ""), shellWord(inst.VMScaleSetName, ""))
}

// shellWord returns v ready to paste into a shell, or placeholder when v is
// empty or unprintable.
func shellWord(v, placeholder string) string {
	if v == "" || len(v) > 128 {
		return placeholder
	}
	plain := true
	for _, r := range v {
		switch {
		case r < 0x20 || r == 0x7f || r == '\'':
			return placeholder
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			plain = false
		}
	}
	if plain {
		return v
	}
	return "'" + v + "'"
}

// userAssigned reports whether the token's xms_mirid names a user-assigned identity.
func (t tokenInfo) userAssigned() bool {
	return strings.Contains(strings.ToLower(t.miResID), "/providers/microsoft.managedidentity/userassignedidentities/")
}
