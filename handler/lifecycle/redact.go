package lifecycle

import (
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/config"
)

// redactor hides a mirror URL that came from the protected settings in what
// the installer reports: progress lines (they become the transitioning
// status), log lines, warnings and errors (the final status, events and
// stderr). The package manager's output quotes repository URLs, so the
// distros package cannot avoid naming it; we replace it on the way out by
// its scheme and host, as config.Mirror.Redacted shows it. A message often
// keeps only the tail of that output (run.Result.Tail), which cuts the URL
// anywhere (…ror.corp.example/internal-path/pool/…), so the URL is also
// hidden by pieces: every secret piece (a path segment that is not a word of
// the public layout, userinfo, query) wherever it appears, and any fragment
// of one at the edge of a URL-like word, where a cut leaves it. The host is
// not secret: the status names it on purpose. The zero value changes nothing.
type redactor struct {
	secrets []string
	pieces  []string
	shown   string
}

// minFragment is the shortest fragment of a secret piece hidden at a cut;
// one or two characters say nothing about the path.
const minFragment = 3

// redactorFor returns the redactor for the mirror of cfg; base is the
// normalised URL the installer uses. A protected URL without a path,
// userinfo or query has nothing to hide beyond what the status shows anyway
// (its host).
func redactorFor(cfg config.Config, base string) redactor {
	m := cfg.Mirror
	if m == nil || !m.Secret {
		return redactor{}
	}
	u, err := url.Parse(m.URL)
	if err != nil {
		return redactor{}
	}
	pieces := secretPiecesOf(u)
	if len(pieces) == 0 {
		return redactor{}
	}
	r := redactor{shown: u.Scheme + "://" + u.Host + "/…", pieces: pieces}
	norm := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/")
	for _, s := range []string{base, strings.TrimRight(m.URL, "/"), norm} {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	// Longest first, so that a piece containing another goes whole.
	sort.Slice(r.pieces, func(i, j int) bool { return len(r.pieces[i]) > len(r.pieces[j]) })
	return r
}

// secretPiecesOf lists the secret pieces of u, raw and unescaped.
func secretPiecesOf(u *url.URL) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minFragment && !publicWords[strings.ToLower(s)] && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, path := range []string{u.EscapedPath(), u.Path} {
		for _, seg := range strings.Split(path, "/") {
			add(seg)
		}
	}
	if u.User != nil {
		add(u.User.Username())
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		add(u.User.String())
	}
	add(u.RawQuery)
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	return out
}

func (r redactor) str(s string) string {
	if len(r.pieces) == 0 {
		return s
	}
	for _, x := range r.secrets {
		s = strings.ReplaceAll(s, x, r.shown)
	}
	for _, p := range r.pieces {
		s = strings.ReplaceAll(s, p, "…")
	}
	s = r.cutFragments(s)
	for strings.Contains(s, "……") {
		s = strings.ReplaceAll(s, "……", "…")
	}
	return s
}

// cutFragments hides what a cut leaves of a secret piece: the longest start
// and end of every URL-like word that is part of a secret piece.
func (r redactor) cutFragments(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, urlChar)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexFunc(s, func(c rune) bool { return !urlChar(c) })
		if j < 0 {
			j = len(s)
		}
		word := s[:j]
		s = s[j:]
		head := r.fragment(len(word), func(n int) string { return word[:n] })
		tail := r.fragment(len(word)-head, func(n int) string { return word[len(word)-n:] })
		switch {
		case head > 0 && head == len(word):
			b.WriteString("…")
		default:
			if head > 0 {
				b.WriteString("…")
			}
			b.WriteString(word[head : len(word)-tail])
			if tail > 0 {
				b.WriteString("…")
			}
		}
	}
	return b.String()
}

// fragment returns the largest n (at least minFragment, at most max) for
// which part(n) is inside a secret piece, or 0.
func (r redactor) fragment(max int, part func(int) string) int {
	for n := max; n >= minFragment; n-- {
		q := part(n)
		for _, p := range r.pieces {
			if strings.Contains(p, q) {
				return n
			}
		}
	}
	return 0
}

// urlChar reports whether c can be part of a URL in a message; the quotes,
// brackets, '=' and ',' around URLs in log lines and tool output are not.
func urlChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~:/?#@!$&*+%", c)
}

// err keeps err's chain (exit code, errors.Is) but shows a redacted text.
func (r redactor) err(err error) error {
	if err == nil || len(r.pieces) == 0 {
		return err
	}
	if msg := err.Error(); r.str(msg) != msg {
		return &redactedError{msg: r.str(msg), err: err}
	}
	return err
}

func (r redactor) logger(l log.Logger) log.Logger {
	if len(r.pieces) == 0 {
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

// publicWords are path segments of the public packages.microsoft.com layout
// (and of the handler's own file names): a protected mirror path made of
// them hides nothing, and redacting them everywhere would garble every
// message ("microsoft-prod.list").
var publicWords = map[string]bool{
	"microsoft": true, "repos": true, "prod": true, "keys": true, "pool": true, "main": true, "dists": true,
	"debian": true, "ubuntu": true, "rhel": true, "sles": true, "cbl-mariner": true, "azurelinux": true,
	"packages": true, "extras": true, "ms-non-oss": true, "yumrepos": true,
}
