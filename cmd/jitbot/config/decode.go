package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The loader decodes the YAML tree itself rather than with yaml.v3's
// strict decoder, which stops at the first unknown key, names a key's
// section by its Go type ("(in atlas)") and a type error by its line alone.
// Walking the tree, it knows every value's full path and line, so it
// reports every unknown key and every value of the wrong type, each where
// it is, and keeps going.

// maxDecodeSteps bounds the values decoded: aliases make a small file
// stand for a huge tree ("billion laughs"), or for an endless one.
const (
	maxDecodeSteps = 100_000
	maxDecodeDepth = 64
)

// scope is the struct a mapping decodes into, for the hints about a key
// written at the wrong level.
type scope struct {
	path string
	typ  reflect.Type
}

// decode fills v from the YAML node n found at path. parent is the struct
// around v's (nil at the top).
func (l *loader) decode(n *yaml.Node, v reflect.Value, path string, parent *scope, depth int) {
	l.steps++
	if l.steps > maxDecodeSteps || depth > maxDecodeDepth {
		if !l.tooDeep {
			l.tooDeep = true
			l.addAt(n.Line, path, "the file nests or repeats too much to read (an alias inside what it names?)")
		}
		return
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			l.decode(n.Alias, v, path, parent, depth+1)
		}
		return
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			l.decode(n.Content[0], v, path, parent, depth+1)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // as yaml.v3 does: the key is there, with nothing set
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		l.decode(n, v.Elem(), path, parent, depth)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.wrongType(n, v.Type(), path)
			return
		}
		l.decodeStruct(n, v, path, parent, depth)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.wrongType(n, v.Type(), path)
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		l.pairs(n, path, depth, func(key string, at string, value *yaml.Node) {
			elem := reflect.New(v.Type().Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(key)); old.IsValid() {
				elem.Set(old) // a merged mapping's value, which an explicit key overrides
			}
			l.decode(value, elem, at, parent, depth+1)
			v.SetMapIndex(reflect.ValueOf(key), elem)
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.wrongType(n, v.Type(), path)
			return
		}
		// Written but empty stays non-nil: some keys tell [] from absent.
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			at := fmt.Sprintf("%s[%d]", path, i)
			l.lines[at] = item.Line
			l.decode(item, s.Index(i), at, parent, depth+1)
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			l.wrongType(n, v.Type(), path)
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			l.wrongType(n, v.Type(), path)
		}
	}
}

// decodeStruct fills the struct v from the mapping n, reporting each key it
// does not have.
func (l *loader) decodeStruct(n *yaml.Node, v reflect.Value, path string, parent *scope, depth int) {
	fields := keyedFields(v)
	here := &scope{path: path, typ: v.Type()}
	l.pairs(n, path, depth, func(key, at string, value *yaml.Node) {
		i := slices.IndexFunc(fields, func(f keyedField) bool { return f.key == key })
		if i < 0 {
			l.addAt(l.lines[at], at, "unknown key%s", l.keyHint(key, here, parent))
			return
		}
		l.decode(value, fields[i].value, at, here, depth+1)
	})
}

// pairs calls fn for each key of the mapping n, merged mappings (<<: *x)
// first so that the keys written beside them win, as YAML has it. A key
// written twice is reported, and its second value left out: yaml.v3 would
// silently keep the last.
func (l *loader) pairs(n *yaml.Node, path string, depth int, fn func(key, at string, value *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			l.merge(n.Content[i+1], path, depth, fn)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, value := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.addAt(k.Line, path, "a key must be a plain name, not a list or a mapping")
			continue
		}
		at := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			l.addAt(k.Line, at, "written twice (first on line %d): keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		l.lines[at] = k.Line
		fn(k.Value, at, value)
	}
}

// merge applies a merge key's value: a mapping, or a list of them.
func (l *loader) merge(n *yaml.Node, path string, depth int, fn func(key, at string, value *yaml.Node)) {
	for n.Kind == yaml.AliasNode && n.Alias != nil && depth < maxDecodeDepth {
		n, depth = n.Alias, depth+1
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode {
				at := joinPath(path, k.Value)
				if _, ok := l.lines[at]; !ok {
					l.lines[at] = k.Line
				}
				fn(k.Value, at, n.Content[i+1])
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			l.merge(item, path, depth+1, fn)
		}
	default:
		l.addAt(n.Line, path, "<< merges a mapping (or a list of them) into this one")
	}
}

// wrongType reports a value that is not what its key takes. A value that
// is text is quoted: secrets are text, so they never are.
func (l *loader) wrongType(n *yaml.Node, t reflect.Type, path string) {
	line, ok := l.lines[path]
	if !ok {
		line = n.Line
	}
	var got string
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		got = fmt.Sprintf("%q", excerpt(n.Value))
	}
	l.addAt(line, path, "want %s, not %s", wanted(t), got)
	l.refuse(path)
}

// wanted says what a Go type takes, in the file's words.
func wanted(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return wanted(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value)"
	case reflect.Slice:
		return "a list, such as [a, b]"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	}
	return "a single value"
}

// keyHint helps with an unknown key: the key it is likely a typo of, or the
// level where it belongs, or what this level's keys are.
func (l *loader) keyHint(key string, here, parent *scope) string {
	keys := keysOf(here.typ)
	// A key of a section inside this one, or of the one around it.
	for _, f := range keyedFields(reflect.New(here.typ).Elem()) {
		if inner := structType(f.value.Type()); inner != nil && slices.Contains(keysOf(inner), key) {
			return fmt.Sprintf(": %s belongs in %s", key, joinPath(here.path, f.key))
		}
	}
	if parent != nil && slices.Contains(keysOf(parent.typ), key) {
		where := parent.path
		if where == "" {
			where = "the top level"
		}
		return fmt.Sprintf(": %s belongs in %s, one level up", key, where)
	}
	if best := closest(key, keys); best != "" {
		// What the typo left unset is not reported as missing as well.
		l.refuse(joinPath(here.path, best))
		return fmt.Sprintf(": did you mean %s?", best)
	}
	return fmt.Sprintf("; the keys here are %s", strings.Join(keys, ", "))
}

// keysOf lists the keys of a struct type, as the file writes them.
func keysOf(t reflect.Type) []string {
	var out []string
	for _, f := range keyedFields(reflect.New(t).Elem()) {
		out = append(out, f.key)
	}
	return out
}

// structType is the struct a field of type t decodes into through
// pointers and lists, or nil.
func structType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

// closest is the key nearest to key by edit distance (a transposition
// counting one, case ignored), if near enough to be a typo of it: one edit
// in a short key, up to three in a long one.
func closest(key string, keys []string) string {
	best, bestDist := "", 0
	for _, k := range keys {
		if d := editDistance(strings.ToLower(key), k); best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" || bestDist > max(1, min(3, utf8.RuneCountInString(key)/4)) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of neighbours.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// excerpt bounds quoted text.
func excerpt(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
