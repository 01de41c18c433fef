package agentsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf16"
)

// pyDumps re-serialises JSON the way Python's json.dumps does with default
// arguments, which is how the agent writes the settings file and
// HandlerEnvironment.json: one line, ", " and ": " separators, key order
// kept, non-ASCII escaped as \uXXXX (ensure_ascii). Number literals are kept
// as written.
func pyDumps(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	if err := pyValue(dec, &out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return out.Bytes(), nil
}

func pyValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteString(", ")
				}
				k, err := dec.Token()
				if err != nil {
					return err
				}
				pyString(out, k.(string))
				out.WriteString(": ")
				if err := pyValue(dec, out); err != nil {
					return err
				}
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteString(", ")
				}
				if err := pyValue(dec, out); err != nil {
					return err
				}
			}
			out.WriteByte(']')
		}
		_, err := dec.Token() // closing delimiter
		return err
	case string:
		pyString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		if t {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	}
	return nil
}

// pyString writes s as Python's json encoder does with ensure_ascii=True.
func pyString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			out.WriteString(`\"`)
		case r == '\\':
			out.WriteString(`\\`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r == '\t':
			out.WriteString(`\t`)
		case r == '\b':
			out.WriteString(`\b`)
		case r == '\f':
			out.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			if r == 0x7f {
				out.WriteByte(0x7f) // Python leaves DEL as is
				continue
			}
			fmt.Fprintf(out, `\u%04x`, r)
		case r >= 0x10000:
			a, b := utf16.EncodeRune(r)
			fmt.Fprintf(out, `\u%04x\u%04x`, a, b)
		default:
			out.WriteRune(r)
		}
	}
	out.WriteByte('"')
}

// pyQuote returns s as a Python json.dumps string literal.
func pyQuote(s string) string {
	var b bytes.Buffer
	pyString(&b, s)
	return b.String()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
