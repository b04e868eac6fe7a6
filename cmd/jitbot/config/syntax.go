package config

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports a syntax error at the line where the construct around it
// began (the enclosing mapping, often a line or more above), and calls a
// tab "a character that cannot start any token". The loader finds the line
// itself and says what it sees there.

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// maxScanLines bounds the files whose broken line is searched for: each
// step parses a prefix of the file, and a configuration is a few hundred
// lines.
const maxScanLines = 2000

// syntaxProblems explains a file yaml.v3 cannot parse (err): the first line
// from which no longer prefix of the file parses, and every line a tab
// indents. Tabs are the usual culprit, so each is named as one.
func (l *loader) syntaxProblems(raw []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	lines := strings.SplitAfter(string(raw), "\n")
	if n := brokenLine(lines); n > 0 {
		line = n
	}
	tabbed := false
	for i, text := range lines {
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		switch {
		case strings.Contains(indent, "\t") && strings.TrimSpace(text) != "":
			l.addAt(i+1, "", "a tab indents this line: YAML indents with spaces only; replace the tab with spaces")
			tabbed = tabbed || i+1 == line
		case i+1 == line && strings.Contains(text, "\t"):
			l.addAt(i+1, "", "%s: the line holds a tab, which YAML takes only inside quoted text; use spaces", msg)
			tabbed = true
		}
	}
	if !tabbed {
		l.addAt(line, "", "%s", msg)
	}
}

// brokenLine is the 1-based line from which every prefix of the file fails
// to parse: the line that breaks it, where yaml.v3 names the start of the
// construct around it (for an alias to a missing anchor, the alias's line).
// 0 when the file is too long to search.
func brokenLine(lines []string) int {
	if len(lines) > maxScanLines {
		return 0
	}
	var n yaml.Node
	for end := len(lines) - 1; end >= 0; end-- {
		if yaml.Unmarshal([]byte(strings.Join(lines[:end], "")), &n) == nil {
			return end + 1
		}
	}
	return 1
}
