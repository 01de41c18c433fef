package precheck

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// sshdConfigPath is the main sshd configuration file; relative Include
// arguments are resolved against its directory, as sshd does.
const (
	sshdConfigPath = "/etc/ssh/sshd_config"
	sshdConfigDir  = "/etc/ssh"
	// maxIncludeDepth is sshd's own limit (SERVCONF_MAX_DEPTH).
	maxIncludeDepth = 16
	// maxConfigBytes bounds one file; real files are a few KiB.
	maxConfigBytes = 1 << 20
)

// SSHDConfig is an sshd configuration flattened in the order sshd reads it:
// Include directives are replaced by the included files' directives.
type SSHDConfig struct {
	Directives []Directive
	// Problems are lines sshd would reject or that could not be followed
	// (bad Match lines, unreadable includes, include cycles). They do not
	// stop parsing.
	Problems []string
}

// Directive is one keyword line.
type Directive struct {
	// Keyword is lower-cased, as sshd -T prints it.
	Keyword string
	Args    []string
	File    string
	Line    int
	// Match is the chain of Match conditions the line is under, outermost
	// first (a Match around an Include, then a Match inside the included
	// file). Empty means global.
	Match []*MatchBlock
}

// Value returns the arguments joined by single spaces.
func (d Directive) Value() string { return strings.Join(d.Args, " ") }

// MatchBlock is one Match line.
type MatchBlock struct {
	// Criteria are the attribute/value pairs; "all" has an empty value.
	Criteria []MatchCriterion
	// Raw is the line's arguments as written.
	Raw  string
	File string
	Line int
	// Bad is set when sshd would reject the line; such a block never matches here.
	Bad bool
}

// MatchCriterion is one attribute of a Match line, attribute lower-cased.
type MatchCriterion struct {
	Attr  string
	Value string
}

// String renders the Match line as written.
func (m *MatchBlock) String() string { return strings.TrimSpace("Match " + m.Raw) }

// Where renders file:line.
func (m *MatchBlock) Where() string { return fmt.Sprintf("%s:%d", m.File, m.Line) }

// isGlobal reports whether a directive applies to every connection: outside
// any Match, or only under "Match all".
func (d Directive) isGlobal() bool {
	for _, m := range d.Match {
		if m.Bad || len(m.Criteria) != 1 || m.Criteria[0].Attr != "all" {
			return false
		}
	}
	return true
}

// ParseSSHDConfig parses one file's text. Include lines are kept as
// directives but not followed; use LoadSSHDConfig for that.
func ParseSSHDConfig(name string, data []byte) *SSHDConfig {
	cfg := &SSHDConfig{}
	p := &configParser{cfg: cfg}
	p.parse(name, data, nil, 0)
	return cfg
}

// LoadSSHDConfig reads /etc/ssh/sshd_config through root and follows its
// Include directives (globs, relative to /etc/ssh, sorted; cycles and depth
// beyond sshd's limit are recorded as problems).
func LoadSSHDConfig(root sysroot.Root) (*SSHDConfig, error) {
	data, err := root.ReadFile(sshdConfigPath)
	if err != nil {
		return nil, fmt.Errorf("read sshd configuration: %w", err)
	}
	cfg := &SSHDConfig{}
	p := &configParser{cfg: cfg, root: root, follow: true}
	p.stack = []string{sshdConfigPath}
	p.parse(sshdConfigPath, data, nil, 0)
	return cfg, nil
}

type configParser struct {
	cfg    *SSHDConfig
	root   sysroot.Root
	follow bool
	// stack holds the files being parsed, to detect include cycles.
	stack []string
}

func (p *configParser) problem(file string, line int, format string, args ...any) {
	p.cfg.Problems = append(p.cfg.Problems, fmt.Sprintf("%s:%d: ", file, line)+fmt.Sprintf(format, args...))
}

// parse reads one file under the Match chain outer (from the Include line).
func (p *configParser) parse(file string, data []byte, outer []*MatchBlock, depth int) {
	var cur *MatchBlock
	for i, raw := range strings.Split(string(data), "\n") {
		lineNo := i + 1
		keyword, args, err := splitConfigLine(raw)
		if err != nil {
			p.problem(file, lineNo, "%v", err)
		}
		if keyword == "" {
			continue
		}
		chain := outer
		if cur != nil {
			chain = append(append([]*MatchBlock(nil), outer...), cur)
		}
		switch keyword {
		case "match":
			cur = parseMatch(args, file, lineNo)
			if cur.Bad {
				p.problem(file, lineNo, "bad Match condition %q (sshd refuses to start with it)", strings.Join(args, " "))
			}
			continue
		case "include":
			p.cfg.Directives = append(p.cfg.Directives, Directive{Keyword: keyword, Args: args, File: file, Line: lineNo, Match: chain})
			if p.follow {
				p.include(file, lineNo, args, chain, depth)
			}
			continue
		}
		p.cfg.Directives = append(p.cfg.Directives, Directive{Keyword: keyword, Args: args, File: file, Line: lineNo, Match: chain})
	}
}

func (p *configParser) include(file string, line int, patterns []string, chain []*MatchBlock, depth int) {
	if len(patterns) == 0 {
		p.problem(file, line, "Include without a file name")
		return
	}
	if depth+1 > maxIncludeDepth {
		p.problem(file, line, "Include nested deeper than %d levels (sshd refuses this)", maxIncludeDepth)
		return
	}
	for _, pat := range patterns {
		if !strings.HasPrefix(pat, "/") {
			pat = sshdConfigDir + "/" + pat
		}
		matches, err := filepath.Glob(p.root.Path(pat))
		if err != nil {
			p.problem(file, line, "Include %q: %v", pat, err)
			continue
		}
		for _, m := range matches {
			sys := systemPath(p.root, m)
			if p.onStack(sys) {
				p.problem(file, line, "Include cycle: %s includes %s again", file, sys)
				continue
			}
			data, err := readBounded(p.root, sys)
			if err != nil {
				p.problem(file, line, "Include %s: %v", sys, err)
				continue
			}
			p.stack = append(p.stack, sys)
			p.parse(sys, data, chain, depth+1)
			p.stack = p.stack[:len(p.stack)-1]
		}
	}
}

func (p *configParser) onStack(f string) bool {
	for _, s := range p.stack {
		if s == f {
			return true
		}
	}
	return false
}

var errTooLarge = errors.New("file larger than 1 MiB")

func readBounded(root sysroot.Root, sys string) ([]byte, error) {
	data, err := root.ReadFile(sys)
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigBytes {
		return nil, errTooLarge
	}
	return data, nil
}

// systemPath maps a path under root back to the system path it stands for.
func systemPath(root sysroot.Root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	rel, err := filepath.Rel(string(root), p)
	if err != nil {
		return p
	}
	return "/" + filepath.ToSlash(rel)
}

// parseMatch turns the arguments of a Match line into a block.
func parseMatch(args []string, file string, line int) *MatchBlock {
	m := &MatchBlock{File: file, Line: line, Raw: strings.Join(args, " ")}
	if len(args) == 0 {
		m.Bad = true
		return m
	}
	for i := 0; i < len(args); i++ {
		attr := strings.ToLower(args[i])
		if attr == "all" {
			if len(args) != 1 {
				m.Bad = true // "all" cannot be combined with other criteria
			}
			m.Criteria = append(m.Criteria, MatchCriterion{Attr: attr})
			continue
		}
		if i+1 >= len(args) {
			m.Bad = true
			m.Criteria = append(m.Criteria, MatchCriterion{Attr: attr})
			break
		}
		m.Criteria = append(m.Criteria, MatchCriterion{Attr: attr, Value: args[i+1]})
		i++
	}
	return m
}

// splitConfigLine splits one line the way sshd does: the keyword ends at
// whitespace or '=', one optional '=' may separate it from the arguments,
// arguments are whitespace-separated with double or single quotes grouping,
// and an unquoted argument starting with '#' ends the line. The keyword is
// lower-cased; an empty keyword means a blank or comment line.
func splitConfigLine(line string) (string, []string, error) {
	s := strings.TrimLeft(line, " \t\r\f\v")
	if s == "" || s[0] == '#' {
		return "", nil, nil
	}
	end := strings.IndexAny(s, " \t\r\f\v=")
	if end < 0 {
		end = len(s)
	}
	keyword := strings.ToLower(s[:end])
	s = strings.TrimLeft(s[end:], " \t\r\f\v")
	s = strings.TrimPrefix(s, "=")
	if keyword == "" {
		return "", nil, fmt.Errorf("line starts with '='")
	}
	var args []string
	var b strings.Builder
	inTok := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, inTok = c, true
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			if inTok {
				args = append(args, b.String())
				b.Reset()
				inTok = false
			}
		case c == '#' && !inTok:
			return keyword, args, nil
		default:
			b.WriteByte(c)
			inTok = true
		}
	}
	if quote != 0 {
		return keyword, args, fmt.Errorf("unterminated quote")
	}
	if inTok {
		args = append(args, b.String())
	}
	return keyword, args, nil
}
