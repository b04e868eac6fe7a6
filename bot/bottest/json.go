package bottest

// Objects returns every JSON object in a decoded JSON value (what
// json.Unmarshal makes of it into an any), depth first, so that a test can
// check each element of a rendered message: each text object of Block Kit,
// each element of an Adaptive Card.
func Objects(v any) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		out = append(out, v)
		for _, e := range v {
			out = append(out, Objects(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, Objects(e)...)
		}
	}
	return out
}
