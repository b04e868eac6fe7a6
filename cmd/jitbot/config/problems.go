package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Severity says whether a problem stops jitbot.
type Severity int

const (
	// Error: jitbot will not serve with this configuration.
	Error Severity = iota
	// Warning: jitbot serves, but part of the configuration can never take
	// effect (a flow that can match nothing, say).
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong in the file, with where it is: the full path
// of the key at fault (integrations[0].atlas.client_secret_file) and its
// line.
type Problem struct {
	File     string
	Line     int // 0 when unknown
	Path     string
	Message  string
	Severity Severity
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Severity == Warning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a configuration, in the order of the
// file. As an error (Load's), it holds at least one Error; its Warnings
// come with it, so that one run tells everything.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Errors are the problems that stop jitbot.
func (ps Problems) Errors() Problems { return ps.of(Error) }

// Warnings are the problems that do not.
func (ps Problems) Warnings() Problems { return ps.of(Warning) }

func (ps Problems) of(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Summary counts the problems: "2 errors and 1 warning".
func (ps Problems) Summary() string {
	count := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	errs, warns := len(ps.Errors()), len(ps.Warnings())
	switch {
	case warns == 0:
		return count(errs, "error")
	case errs == 0:
		return count(warns, "warning")
	}
	return count(errs, "error") + " and " + count(warns, "warning")
}
