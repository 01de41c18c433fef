package lifecycle

import (
	"net/url"
	"strings"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/config"
)

// redactor hides a mirror URL that came from the protected settings in what
// the installer reports: progress lines (they become the transitioning
// status), log lines, warnings and errors (the final status, events and
// stderr). The package manager's output quotes repository URLs, so the
// distros package cannot avoid naming it; we replace it on the way out by
// its scheme and host, as config.Mirror.Redacted shows it. The zero value
// changes nothing.
type redactor struct {
	secrets []string
	shown   string
}

// redactorFor returns the redactor for the mirror of cfg; base is the
// normalised URL the installer uses. A protected URL without a path has
// nothing to hide beyond what the status shows anyway (its host).
func redactorFor(cfg config.Config, base string) redactor {
	m := cfg.Mirror
	if m == nil || !m.Secret {
		return redactor{}
	}
	u, err := url.Parse(m.URL)
	if err != nil || strings.Trim(u.EscapedPath(), "/") == "" {
		return redactor{}
	}
	r := redactor{shown: u.Scheme + "://" + u.Host + "/…"}
	norm := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/")
	for _, s := range []string{base, strings.TrimRight(m.URL, "/"), norm} {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

func (r redactor) str(s string) string {
	for _, x := range r.secrets {
		s = strings.ReplaceAll(s, x, r.shown)
	}
	return s
}

// err keeps err's chain (exit code, errors.Is) but shows a redacted text.
func (r redactor) err(err error) error {
	if err == nil || len(r.secrets) == 0 {
		return err
	}
	if msg := err.Error(); r.str(msg) != msg {
		return &redactedError{msg: r.str(msg), err: err}
	}
	return err
}

func (r redactor) logger(l log.Logger) log.Logger {
	if len(r.secrets) == 0 {
		return l
	}
	return log.LoggerFunc(func(kv ...any) error {
		out := make([]any, len(kv))
		for i, v := range kv {
			switch x := v.(type) {
			case string:
				out[i] = r.str(x)
			case error:
				out[i] = r.str(x.Error())
			default:
				out[i] = v
			}
		}
		return l.Log(out...)
	})
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
