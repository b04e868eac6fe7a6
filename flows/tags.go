package flows

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Tag is an Atlas resource tag of a project or a cluster.
type Tag struct{ Key, Value string }

// TargetTags are the tags of a target's project and cluster, as the catalog
// reads them from Atlas: what a flow's tag: patterns select by.
type TargetTags struct {
	Project []Tag
	Cluster []Tag
}

// tagPrefix starts a resource pattern part that selects projects or
// clusters by their Atlas tags rather than by name.
const tagPrefix = "tag:"

// A tag pattern part is tag:key=value, or tag:key for any value; several
// conditions joined by commas must all hold (tag:env=prod,tier=gold). The
// value is a path.Match pattern (tag:env=prod*). A key or value holding a
// comma, an equals sign or a slash writes it %2C, %3D or %2F.
type tagCond struct {
	key, value string // value "" with any: the key is set, whatever its value
	any        bool
}

// parseTagPattern reads the part after tag:. It reports whether seg is a
// tag pattern at all.
func parseTagPattern(seg string) ([]tagCond, bool, error) {
	spec, ok := strings.CutPrefix(seg, tagPrefix)
	if !ok {
		return nil, false, nil
	}
	if spec == "" {
		return nil, true, fmt.Errorf("%q: name a tag, as in tag:env=prod", seg)
	}
	var out []tagCond
	for cond := range strings.SplitSeq(spec, ",") {
		k, v, hasValue := strings.Cut(cond, "=")
		key, err := url.PathUnescape(k)
		if err != nil || key == "" {
			return nil, true, fmt.Errorf("%q: the tag key %q is empty or badly escaped", seg, k)
		}
		c := tagCond{key: key, any: !hasValue}
		if hasValue {
			if c.value, err = url.PathUnescape(v); err != nil || c.value == "" {
				return nil, true, fmt.Errorf("%q: the value of tag %s is empty or badly escaped", seg, key)
			}
			if _, err := path.Match(c.value, ""); err != nil {
				return nil, true, fmt.Errorf("%q: bad pattern %q: %v", seg, c.value, err)
			}
		}
		out = append(out, c)
	}
	return out, true, nil
}

// tagsMatch reports whether the tags satisfy every condition.
func tagsMatch(conds []tagCond, tags []Tag) bool {
	for _, c := range conds {
		found := false
		for _, t := range tags {
			if t.Key != c.key {
				continue
			}
			if ok, _ := path.Match(c.value, t.Value); c.any || ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
