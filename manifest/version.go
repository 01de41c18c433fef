package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an extension version: four dot-separated non-negative numbers,
// Major.Minor.Build.Revision (for example 1.0.0.1). Azure's extension
// publishing stores versions as .NET System.Version values, so each part is
// limited to the range of a signed 32-bit integer.
type Version struct {
	Major, Minor, Build, Revision int32
}

// maxPartDigits bounds the length of one part before conversion, so an
// absurdly long input fails fast with a clear message.
const maxPartDigits = 10

// ParseVersion parses "X.Y.Z.W". Every part must be a decimal number without
// sign, spaces or leading zeros (a lone "0" is fine) and at most 2147483647.
// The result's String method gives back exactly s.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return Version{}, fmt.Errorf("version %q has %d dot-separated parts; use four numbers such as 1.0.0.1", s, len(parts))
	}
	var nums [4]int32
	for i, p := range parts {
		n, err := parsePart(p)
		if err != nil {
			return Version{}, fmt.Errorf("version %q, part %d: %w; use four numbers such as 1.0.0.1", s, i+1, err)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Build: nums[2], Revision: nums[3]}, nil
}

func parsePart(p string) (int32, error) {
	switch {
	case p == "":
		return 0, fmt.Errorf("empty part")
	case len(p) > maxPartDigits:
		return 0, fmt.Errorf("%q is too long", p)
	case len(p) > 1 && p[0] == '0':
		return 0, fmt.Errorf("%q has a leading zero", p)
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", p)
		}
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is larger than 2147483647", p)
	}
	return int32(n), nil
}

// String renders the version as "X.Y.Z.W".
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Build, v.Revision)
}

// TypeHandlerVersion is the "major.minor" form that deployments put in
// typeHandlerVersion (for example "1.0" for 1.0.0.1).
func (v Version) TypeHandlerVersion() string {
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}
