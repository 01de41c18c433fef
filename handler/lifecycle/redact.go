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
// the public layout, userinfo, query) wherever it stands on its own
// (replaceBounded), and what a cut leaves of one at the start or end of a
// URL-like word (cutFragments). The host is not secret: the status names it
// on purpose. The zero value changes nothing.
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
		s = replaceBounded(s, p, "…")
	}
	s = r.cutFragments(s)
	for strings.Contains(s, "……") {
		s = strings.ReplaceAll(s, "……", "…")
	}
	return s
}

// replaceBounded replaces the occurrences of old in s that stand on their
// own: not glued to a letter, digit or '.' on either side ("aad" in
// "aadsshlogin" is another word; in apt's list file names "…_aad_repos_…"
// it is the piece). A glued occurrence shows nothing a reader can tell
// from the word it is part of; '.' counts as glue so that a piece that is
// also a label of the host ("aad" in aad.corp.example) leaves the host, which
// the status shows on purpose, alone.
func replaceBounded(s, old, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		if (i > 0 && glued(s[i-1])) || (end < len(s) && glued(s[end])) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s = s[end:]
	}
}

func glued(c byte) bool { return alnum(c) || c == '.' }

// cutFragments hides what a cut leaves of a secret piece in a URL-like
// word: a word that lies wholly inside a piece, a start that is the end of a
// piece (the cut removed its beginning), and an end that is the beginning of
// one (the cut removed the rest). A leftover must end, or begin, where the
// piece does in a URL: at a character that is not a letter or digit, so
// "aadsshlogin" is not taken for the end of a piece named "aad".
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
		if len(word) >= minFragment && r.inPiece(word, strings.Contains) {
			b.WriteString("…")
			continue
		}
		head := 0
		for n := len(word) - 1; n >= minFragment; n-- {
			if !alnum(word[n]) && r.inPiece(word[:n], strings.HasSuffix) {
				head = n
				break
			}
		}
		tail := 0
		for n := len(word) - head - 1; n >= minFragment; n-- {
			if !alnum(word[len(word)-n-1]) && r.inPiece(word[len(word)-n:], strings.HasPrefix) {
				tail = n
				break
			}
		}
		if head > 0 {
			b.WriteString("…")
		}
		b.WriteString(word[head : len(word)-tail])
		if tail > 0 {
			b.WriteString("…")
		}
	}
	return b.String()
}

// inPiece reports whether rel(piece, q) holds for a secret piece.
func (r redactor) inPiece(q string, rel func(piece, q string) bool) bool {
	for _, p := range r.pieces {
		if rel(p, q) {
			return true
		}
	}
	return false
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
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
