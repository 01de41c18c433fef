package precheck

import "strings"

// Sample Entra login names: a UPN and an object-id-style name, the two
// shapes the aadsshlogin package's `Match User *@*,<uuid pattern>` covers.
const (
	sampleUPN      = "alice@contoso.com"
	sampleObjectID = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
)

// wildcardMatch implements sshd's match_pattern: '*' matches any run of
// bytes, '?' exactly one byte, everything else itself (case-sensitive).
// Linear backtracking, so hostile patterns cannot make it blow up.
func wildcardMatch(s, pat string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pat) && pat[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pat) && (pat[pi] == '?' || pat[pi] == s[si]):
			si++
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}

// matchPatternList implements sshd's match_pattern_list for user names:
// a comma-separated list where "!pat" excludes. It returns 1 for a match,
// -1 for a negated match (which wins) and 0 for no match; a list of only
// negations never matches.
func matchPatternList(s, list string) int {
	got := 0
	for _, sub := range strings.Split(list, ",") {
		neg := strings.HasPrefix(sub, "!")
		if neg {
			sub = sub[1:]
		}
		if !wildcardMatch(s, sub) {
			continue
		}
		if neg {
			return -1
		}
		got = 1
	}
	return got
}

// matchUserPattern implements sshd's match_user for AllowUsers/DenyUsers
// entries, ignoring the client host: a pattern "USER@HOST" is split at its
// FIRST '@' (so no entry can name a user whose name contains '@'), and only
// the USER part is compared with the login name.
func matchUserPattern(user, pattern string) bool {
	if i := strings.IndexByte(pattern, '@'); i >= 0 {
		pattern = pattern[:i]
	}
	return wildcardMatch(user, pattern)
}

// appliesToEntra reports whether a Match chain can select the sessions of
// Entra users. Only criteria we can decide are trusted:
//   - all: yes;
//   - User: the pattern list matches a sample UPN or object id;
//   - Address, Host, LocalAddress, LocalPort, RDomain: do not depend on the
//     user, so an Entra connection can satisfy them: yes;
//   - Group and anything unknown: the Entra user's local groups are not
//     known before sign-in, so we stay silent: no.
//
// Every block of the chain must apply (criteria are ANDed, nested Matches too).
func appliesToEntra(chain []*MatchBlock) bool {
	if len(chain) == 0 {
		return false
	}
	for _, m := range chain {
		if m.Bad || !blockAppliesToEntra(m) {
			return false
		}
	}
	return true
}

func blockAppliesToEntra(m *MatchBlock) bool {
	for _, c := range m.Criteria {
		switch c.Attr {
		case "all", "address", "host", "localaddress", "localport", "rdomain":
		case "user":
			if matchPatternList(sampleUPN, c.Value) != 1 && matchPatternList(sampleObjectID, c.Value) != 1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
