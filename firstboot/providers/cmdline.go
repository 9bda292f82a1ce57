package providers

import (
	"fmt"
	"os"
	"strings"
)

// Kernel command line parameters the providers read.
const (
	ParamPlatform   = "ignition.platform.id"
	ParamConfigFile = "ignition.config.file"
)

// Cmdline is a parsed kernel command line: the value of each key=value parameter (the last
// one wins, as in the kernel); flags without "=" map to "".
type Cmdline map[string]string

// ParseCmdline splits a kernel command line the way the kernel does: on white space,
// with double quotes grouping (and removed); everything after a lone "--" belongs to init.
func ParseCmdline(s string) Cmdline {
	c := Cmdline{}
	for _, word := range splitCmdline(s) {
		if word == "--" {
			break
		}
		k, v, _ := strings.Cut(word, "=")
		c[k] = v
	}
	return c
}

func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	// bytes, not runes: the command line need not be UTF-8
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (b == ' ' || b == '\t' || b == '\n' || b == '\r'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(b)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// ReadCmdline reads and parses the command line at path (normally /proc/cmdline).
func ReadCmdline(path string) (Cmdline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel command line: %w", err)
	}
	return ParseCmdline(string(b)), nil
}
