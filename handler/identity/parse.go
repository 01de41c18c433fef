package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode"
)

// tokenInfo is what the handler keeps of a token response: never the token.
type tokenInfo struct {
	// claimsRead is true when the access token's payload could be decoded.
	claimsRead bool
	// miResID is the xms_mirid claim (resource ID of the identity).
	miResID string
}

// parseTokenBody checks a 200 token response and reads the identity's
// resource ID from the token's claims, without verifying the signature (the
// token came straight from IMDS and is discarded right here).
func parseTokenBody(body []byte) (tokenInfo, error) {
	var r struct {
		AccessToken *string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return tokenInfo{}, errors.New("the body is not JSON")
	}
	if r.AccessToken == nil || *r.AccessToken == "" {
		return tokenInfo{}, errors.New("the body has no access_token")
	}
	mirid, ok := jwtMIResID(*r.AccessToken)
	return tokenInfo{claimsRead: ok, miResID: mirid}, nil
}

// jwtMIResID decodes a JWT's payload and returns its xms_mirid claim; ok is
// false when the payload is not a base64url JSON object.
func jwtMIResID(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(raw, &claims); err != nil || claims == nil {
		return "", false
	}
	var mirid string
	if json.Unmarshal(claims["xms_mirid"], &mirid) != nil {
		mirid = ""
	}
	return printable(mirid, 512), true
}

// imdsError is IMDS's (and HIMDS's) JSON error body.
type imdsError struct {
	Code        string
	Description string
}

// parseErrorBody reads {"error": ..., "error_description": ...}; anything
// else yields empty fields. Values are made printable and short so they can
// go into messages and logs.
func parseErrorBody(body []byte) imdsError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return imdsError{}
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(m[k], &s) != nil {
			return ""
		}
		return printable(s, 200)
	}
	return imdsError{Code: str("error"), Description: str("error_description")}
}

// parseInstance reads the compute metadata fields the handler uses. Missing
// fields, and fields that are not strings, stay empty.
func parseInstance(body []byte) (Instance, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Instance{}, err
	}
	if m == nil {
		return Instance{}, errors.New("compute metadata is null")
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(m[k], &s) != nil {
			return ""
		}
		return printable(s, 256)
	}
	return Instance{
		AzEnvironment:  str("azEnvironment"),
		Name:           str("name"),
		ResourceGroup:  str("resourceGroupName"),
		SubscriptionID: str("subscriptionId"),
		VMScaleSetName: str("vmScaleSetName"),
		Location:       str("location"),
	}, nil
}

// parseRealm extracts the file path of a `WWW-Authenticate: Basic
// realm=<path>` challenge (quotes optional). ok is false otherwise.
func parseRealm(values []string) (string, bool) {
	for _, v := range values {
		v = strings.TrimSpace(v)
		scheme, rest, found := strings.Cut(v, " ")
		if !found || !strings.EqualFold(scheme, "Basic") {
			continue
		}
		rest = strings.TrimSpace(rest)
		if len(rest) < len("realm=") || !strings.EqualFold(rest[:len("realm=")], "realm=") {
			continue
		}
		p := rest[len("realm="):]
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = p[1 : len(p)-1]
		}
		if p == "" {
			continue
		}
		return p, true
	}
	return "", false
}

// printable drops control and invalid characters and caps the length, so a
// hostile server cannot inject lines into logs or status messages.
func printable(s string, max int) string {
	var b bytes.Buffer
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+len(string(r)) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
