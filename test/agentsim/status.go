package agentsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// Agent limits for the status file (exthandlers.py).
const (
	MaxStatusFileSize     = 128 * 1024
	maxStatusMessageLen   = 1024
	maxSubstatusFieldLen  = 10 * 1024
	truncatedSuffix       = " ... [TRUNCATED]"
	statusFileRetries     = 5
	defaultStatusRetryGap = 2 * time.Second
)

// validStatus is ExtensionStatusValue.STRINGS.
var validStatus = map[string]bool{"transitioning": true, "success": true, "error": true, "warning": true}

// SubStatus is one parsed substatus item.
type SubStatus struct {
	Name    string          `json:"name,omitempty"`
	Status  string          `json:"status"`
	Code    json.RawMessage `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
}

// ExtStatus is the extension status the agent would report for one
// sequence number, after its validation and coercion rules.
type ExtStatus struct {
	// Status is transitioning/success/error/warning ("" when the file was
	// an empty array or JSON null: the agent then reports no value).
	Status string `json:"status"`
	// Code is the status code: the file's code (any JSON value, default
	// 0), or the agent's code when it replaced the status (1012 malformed,
	// -1 unreadable, 0 missing file).
	Code      json.RawMessage `json:"code,omitempty"`
	Operation string          `json:"operation,omitempty"`
	Message   string          `json:"message,omitempty"`
	Substatus []SubStatus     `json:"substatus,omitempty"`
	// Missing is set when no status file existed (after the retries).
	Missing bool `json:"missing,omitempty"`
	// Malformed is set when the agent rejected the file (code 1012).
	Malformed bool `json:"malformed,omitempty"`
	// Oversize is set when the file exceeded 128 KiB; the agent then
	// truncates the message and substatus fields.
	Oversize bool `json:"oversize,omitempty"`
	// Problem says what was wrong with the file, in the agent's words.
	Problem string `json:"problem,omitempty"`
}

type statusErrKind int

const (
	errMalformed statusErrKind = iota + 1
	errMaxSize
)

type statusError struct {
	kind statusErrKind
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func malformed(format string, a ...any) error {
	return &statusError{kind: errMalformed, msg: fmt.Sprintf(format, a...)}
}

// ParseStatus applies the agent's parse_ext_status to the content of a
// status file, returning the status it would report. A malformed file
// yields Status "error", Code 1012 and Malformed set (never a Go error).
func ParseStatus(data []byte) ExtStatus {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return ExtStatus{
			Status: "error", Code: codeJSON(CodeStatusInvalid), Malformed: true,
			Problem: fmt.Sprintf("status file is not valid JSON: %v", err),
		}
	}
	st, err := parseExtStatus(v)
	if err == nil && utf8.RuneCount(data) > MaxStatusFileSize {
		err = &statusError{kind: errMaxSize, msg: fmt.Sprintf("the status file of size %d bytes is too big. Max Limit allowed is %d bytes", len(data), MaxStatusFileSize)}
	}
	var se *statusError
	if errors.As(err, &se) {
		switch se.kind {
		case errMaxSize:
			st.Oversize, st.Problem = true, se.msg
			st.truncate()
		case errMalformed:
			st = ExtStatus{Status: "error", Code: codeJSON(CodeStatusInvalid), Malformed: true, Problem: se.msg,
				Message: "Could not get a valid status from the extension. Encountered the following error: " + se.msg}
		}
	}
	return st
}

func codeJSON(c int) json.RawMessage { return json.RawMessage(fmt.Sprint(c)) }

func parseExtStatus(v any) (ExtStatus, error) {
	var st ExtStatus
	if v == nil {
		return st, nil
	}
	arr, ok := v.([]any)
	if !ok {
		b, _ := json.Marshal(v)
		return st, malformed("The extension status must be an array: %.4096s", b)
	}
	if len(arr) == 0 {
		return st, nil
	}
	top, ok := arr[0].(map[string]any)
	if !ok {
		return st, malformed("Invalid status format by extension: element [0] is not an object")
	}
	sdRaw, ok := top["status"]
	if !ok {
		return st, malformed("Invalid status format by extension: Missing status key")
	}
	sd, ok := sdRaw.(map[string]any)
	if !ok {
		return st, malformed("Invalid status format by extension: status is not an object")
	}
	val, ok := sd["status"]
	if !ok {
		return st, malformed("Invalid status format by extension: Missing status/status key")
	}
	if s, isStr := val.(string); isStr && validStatus[s] {
		st.Status = s
	} else {
		st.Status = "error" // unknown top-level value is coerced
	}
	if op, ok := sd["operation"].(string); ok {
		st.Operation = op
	}
	st.Code = codeJSON(0)
	if c, ok := sd["code"]; ok {
		st.Code, _ = json.Marshal(c)
	}
	msg, err := parseFormattedMessage(sd["formattedMessage"])
	if err != nil {
		return st, err
	}
	st.Message = msg
	subs, _ := sd["substatus"]
	if subs == nil {
		return st, nil
	}
	list, ok := subs.([]any)
	if !ok {
		return st, malformed("Invalid status format by extension: substatus is not an array")
	}
	for _, item := range list {
		if item == nil {
			continue
		}
		m, ok := item.(map[string]any)
		if !ok {
			return st, malformed("Invalid status format by extension: substatus item is not an object")
		}
		sv, ok := m["status"]
		if !ok {
			return st, malformed("Invalid status format by extension: Missing substatus/status key")
		}
		ss, isStr := sv.(string)
		if !isStr || !validStatus[ss] {
			b, _ := json.Marshal(sv)
			return st, malformed("Invalid value %s in range [transitioning, error, success, warning] at the node substatus/status", b)
		}
		sub := SubStatus{Status: ss, Code: codeJSON(0)}
		if n, ok := m["name"].(string); ok {
			sub.Name = n
		}
		if c, ok := m["code"]; ok {
			sub.Code, _ = json.Marshal(c)
		}
		if sub.Message, err = parseFormattedMessage(m["formattedMessage"]); err != nil {
			return st, err
		}
		st.Substatus = append(st.Substatus, sub)
	}
	return st, nil
}

func parseFormattedMessage(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", malformed("Invalid status format by extension: formattedMessage is not an object")
	}
	if _, ok := m["lang"]; !ok {
		return "", malformed("Invalid status format by extension: Missing formattedMessage/lang key")
	}
	msg, ok := m["message"]
	if !ok {
		return "", malformed("Invalid status format by extension: Missing formattedMessage/message key")
	}
	if s, ok := msg.(string); ok {
		return s, nil
	}
	b, _ := json.Marshal(msg)
	return string(b), nil
}

// truncate applies the agent's MaxSizeExceeded handling.
func (st *ExtStatus) truncate() {
	cut := func(s string, n int) string {
		r := []rune(s)
		if len(r) < n {
			return s
		}
		return string(r[:n]) + truncatedSuffix
	}
	st.Message = cut(st.Message, maxStatusMessageLen)
	size := utf8.RuneCountInString(st.Message)
	var kept []SubStatus
	for _, sub := range st.Substatus {
		sub.Name = cut(sub.Name, maxSubstatusFieldLen)
		sub.Message = cut(sub.Message, maxSubstatusFieldLen)
		size += utf8.RuneCountInString(sub.Name) + utf8.RuneCountInString(sub.Message)
		if size > MaxStatusFileSize {
			break
		}
		kept = append(kept, sub)
	}
	st.Substatus = kept
}

// readStatus is collect_ext_status for <status>/<seq>.status: up to five
// reads, gap apart, on any error (including a missing file), then the
// agent's substitute status.
func (s *Simulator) readStatus(ctx context.Context, in instance, seq int) ExtStatus {
	path := fmt.Sprintf("%s/%d.status", in.statusDir(), seq)
	var data []byte
	var err error
	for attempt := 1; ; attempt++ {
		data, err = os.ReadFile(path)
		if err == nil {
			var v any
			if jerr := json.Unmarshal(data, &v); jerr == nil {
				break
			} else {
				err = jerr
			}
		}
		if attempt >= statusFileRetries || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, s.opt.StatusRetryDelay)
	}
	switch {
	case err == nil:
		return ParseStatus(data)
	case errors.Is(err, os.ErrNotExist):
		return ExtStatus{Status: "transitioning", Code: codeJSON(0), Missing: true,
			Message: fmt.Sprintf("This status is being reported by the Guest Agent since no status file was reported by extension %s: Status file %s does not exist", s.opt.HandlerName, path)}
	case isJSONError(err):
		return ExtStatus{Status: "error", Code: codeJSON(CodeStatusInvalid), Malformed: true, Problem: err.Error(),
			Message: fmt.Sprintf("The status reported by the extension %s-%s(Sequence number %d), was in an incorrect format and the agent could not parse it correctly. Failed due to %v", s.opt.HandlerName, in.version, seq, err)}
	default:
		return ExtStatus{Status: "error", Code: codeJSON(-1), Problem: err.Error(),
			Message: fmt.Sprintf("We couldn't read any status for %s-%s extension, for the sequence number %d. It failed due to %v", s.opt.HandlerName, in.version, seq, err)}
	}
}

func isJSONError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te) || strings.Contains(err.Error(), "unexpected end of JSON input")
}
