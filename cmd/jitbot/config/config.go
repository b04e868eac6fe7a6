package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/bot/slack"
	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/flows"
)

// File is jitbot.yaml as written. Each adapter's section is that adapter's
// own configuration type, which names its keys and checks its own rules
// (Validate); the rest is the loader's and the policy's. Secrets may be given
// inline (usually as ${ENV}) or as a path in the matching *_file key.
type File struct {
	Listen         string    `yaml:"listen"`
	AdminListen    string    `yaml:"admin_listen"`
	LogFormat      string    `yaml:"log_format"`
	Store          StoreFile `yaml:"store"`
	AdminToken     string    `yaml:"admin_token"`
	AdminTokenFile string    `yaml:"admin_token_file"`
	ReminderBefore string    `yaml:"reminder_before"`
	BackstopGrace  string    `yaml:"backstop_grace"`
	RotateAfter    string    `yaml:"rotate_after"`
	// MaxLiveRequests caps the requests one person may have under way (10).
	MaxLiveRequests int                 `yaml:"max_live_requests"`
	Admins          []string            `yaml:"admins"`
	Slack           *slack.Config       `yaml:"slack"`
	Teams           *teams.Config       `yaml:"teams"`
	Groups          map[string][]string `yaml:"groups"`
	Integrations    []IntegrationFile   `yaml:"integrations"`
	Flows           []FlowFile          `yaml:"flows"`
}

// StoreFile configures the bbolt file.
type StoreFile struct {
	Path string `yaml:"path"`
}

// IntegrationFile is one Atlas project: the Atlas adapter's integration, and
// the keys the policy alone reads.
type IntegrationFile struct {
	atlas.Integration `yaml:",inline"`
	Owners            []string `yaml:"owners"`
	AccessDetails     string   `yaml:"access_details"`
}

// FlowFile is one access flow.
type FlowFile struct {
	Name                   string   `yaml:"name"`
	Kind                   string   `yaml:"kind"` // what the flow grants; empty: database_user
	Integration            string   `yaml:"integration"`
	Requesters             []string `yaml:"requesters"`
	Resources              []string `yaml:"resources"`
	Roles                  []string `yaml:"roles"`
	DefaultDuration        string   `yaml:"default_duration"`
	MaxDuration            string   `yaml:"max_duration"`
	Approvers              []string `yaml:"approvers"`
	Approvals              int      `yaml:"approvals"`
	AutoApprove            bool     `yaml:"auto_approve"`
	RequireReason          bool     `yaml:"require_reason"`
	ExtendRequiresApproval bool     `yaml:"extend_requires_approval"`
	PendingTTL             string   `yaml:"pending_ttl"`
	ApprovalsChannel       string   `yaml:"approvals_channel"`
}

// Config is a checked configuration, ready for wiring. The adapters'
// configurations are theirs, as read and checked; the wiring sets only their
// runtime fields (clocks, HTTP clients, logs).
type Config struct {
	Path   string
	Listen string
	// AdminListen, when set, is where the admin API and /metrics are served
	// instead of on Listen (which faces Slack and Teams).
	AdminListen    string
	LogFormat      string
	StorePath      string
	AdminToken     string
	ReminderBefore time.Duration
	BackstopGrace  time.Duration
	RotateAfter    time.Duration
	// MaxLiveRequests is flows.Config.MaxLiveRequests (0: its default).
	MaxLiveRequests int
	Policy          *flows.Policy
	Slack           *slack.Config // nil: no Slack
	Teams           *teams.Config // nil: no Teams
	Integrations    []atlas.Integration
}

// Problem is one error in the file.
type Problem struct {
	File    string
	Line    int // 0 when unknown
	Path    string
	Message string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Path != "" {
		return loc + ": " + p.Path + ": " + p.Message
	}
	return loc + ": " + p.Message
}

// Problems is every error found in a configuration.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Env looks up an environment variable.
type Env func(name string) (string, bool)

// Load reads and checks the configuration at path, expanding ${NAME} from env.
func Load(path string, env Env) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, raw, env)
}

// Parse checks a configuration held in memory; name is used in messages.
func Parse(name string, raw []byte, env Env) (*Config, error) {
	l := &loader{name: name, env: env}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, Problems{l.yamlProblem(err)}
	}
	l.root = &root
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: treat it as empty and let the checks
	// say what is missing.
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				l.problems = append(l.problems, l.typeProblem(msg))
			}
			return nil, l.problems
		}
		return nil, Problems{l.yamlProblem(err)}
	}
	l.expand(reflect.ValueOf(&f).Elem(), "")
	cfg := l.check(&f)
	if len(l.problems) > 0 {
		sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
		return nil, l.problems
	}
	cfg.Path = name
	return cfg, nil
}

type loader struct {
	name     string
	env      Env
	root     *yaml.Node
	problems Problems
}

func (l *loader) add(path, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.name, Line: l.line(path), Path: path, Message: fmt.Sprintf(format, args...)})
}

var lineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func (l *loader) yamlProblem(err error) Problem {
	msg := err.Error()
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{File: l.name, Line: n, Message: m[2]}
	}
	return Problem{File: l.name, Message: strings.TrimPrefix(msg, "yaml: ")}
}

var fieldNotFound = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

func (l *loader) typeProblem(msg string) Problem {
	p := l.yamlProblem(errors.New(msg))
	if m := fieldNotFound.FindStringSubmatch(p.Message); m != nil {
		p.Message = fmt.Sprintf("unknown key %q (in %s)", m[1], sectionName(m[2]))
	}
	return p
}

// sectionName names, for people, the part of the file that a Go type
// (as yaml.v3 spells it, such as slack.Config) decodes.
func sectionName(typ string) string {
	switch typ {
	case typeName[File]():
		return "the top level"
	case typeName[FlowFile]():
		return "a flow"
	case typeName[IntegrationFile]():
		return "an integration"
	case typeName[atlas.API]():
		return "atlas"
	case typeName[slack.Config]():
		return "slack"
	case typeName[teams.Config]():
		return "teams"
	case typeName[StoreFile]():
		return "store"
	case typeName[atlas.RateLimit]():
		return "rate_limit"
	}
	return typ
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// line finds the line of a path such as flows[1].max_duration in the file.
func (l *loader) line(path string) int {
	if l.root == nil || len(l.root.Content) == 0 {
		return 0
	}
	n := l.root.Content[0]
	best := n.Line
	for _, seg := range splitPath(path) {
		switch {
		case seg.index >= 0 && n.Kind == yaml.SequenceNode && seg.index < len(n.Content):
			n = n.Content[seg.index]
		case seg.key != "" && n.Kind == yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg.key {
					best = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return best
			}
			continue
		default:
			return best
		}
		best = n.Line
	}
	return best
}

type pathSeg struct {
	key   string
	index int
}

// splitPath turns a.b[2].c into segments; an index follows its key.
func splitPath(path string) []pathSeg {
	var out []pathSeg
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			out = append(out, pathSeg{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			out = append(out, pathSeg{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${NAME} in every string of the decoded file. It runs after
// decoding so that a secret's characters can never change the YAML's shape;
// bare $NAME (as in access_details) is left alone.
func (l *loader) expand(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			l.expand(v.Elem(), path)
		}
	case reflect.Struct:
		for _, f := range keyedFields(v) {
			l.expand(f.value, joinPath(path, f.key))
		}
	case reflect.Slice:
		for i := range v.Len() {
			l.expand(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			elem := reflect.New(v.Type().Elem()).Elem()
			elem.Set(v.MapIndex(k))
			l.expand(elem, joinPath(path, k.String()))
			v.SetMapIndex(k, elem)
		}
	case reflect.String:
		s := v.String()
		if !strings.Contains(s, "${") {
			return
		}
		v.SetString(envRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			val, ok := l.env(name)
			if !ok {
				l.add(path, "environment variable %s is not set", name)
			}
			return val
		}))
	}
}

// keyedField is a field of a decoded struct that has a key in the file.
type keyedField struct {
	key   string
	value reflect.Value
	// checks are the generic rules the field declares in its check tag
	// ("endpoint", "trim").
	checks []string
}

// keyedFields lists the fields of struct v as yaml.v3 decodes them: by key,
// the fields of an inline struct as the struct's own, without those it
// never sets (unexported, or yaml:"-": the adapters' runtime fields).
func keyedFields(v reflect.Value) []keyedField {
	var out []keyedField
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		switch {
		case !sf.IsExported() || tag == "-":
			continue
		case slices.Contains(strings.Split(opts, ","), "inline"):
			out = append(out, keyedFields(v.Field(i))...)
			continue
		case tag == "":
			tag = strings.ToLower(sf.Name)
		}
		var checks []string
		if c := sf.Tag.Get("check"); c != "" {
			checks = strings.Split(c, ",")
		}
		out = append(out, keyedField{key: tag, value: v.Field(i), checks: checks})
	}
	return out
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

// validator is an adapter's configuration: it checks its own rules, each
// problem with its path in the adapter's section.
type validator interface {
	Validate() []flows.FieldError
}

// section applies to the struct at v (a pointer), found at path, the rules
// that are the same for every adapter, as its fields declare them, then the
// section's own Validate if it has one. A struct inside it is handled as
// part of it, unless it is a section of its own: the loader composes those
// (check).
//
// Secrets come first, since Validate judges what they hold; endpoints last,
// as problems have always been listed.
func (l *loader) section(path string, v any) {
	s := reflect.ValueOf(v).Elem()
	fields := keyedFields(s)
	byKey := make(map[string]reflect.Value, len(fields))
	for _, f := range fields {
		byKey[f.key] = f.value
	}
	for _, f := range fields {
		at := joinPath(path, f.key)
		if f.value.Kind() != reflect.String {
			l.nested(at, f.value)
			continue
		}
		// A key k with a sibling k_file is a secret that may be read from a file.
		if file, ok := byKey[f.key+"_file"]; ok && file.Kind() == reflect.String {
			l.secret(at, f.value, file.String())
		}
		if slices.Contains(f.checks, "trim") {
			f.value.SetString(strings.TrimSpace(f.value.String()))
		}
	}
	if sec, ok := s.Interface().(validator); ok {
		for _, fe := range sec.Validate() {
			l.add(joinPath(path, fe.Path), "%s", fe.Message)
		}
	}
	for _, f := range fields {
		if slices.Contains(f.checks, "endpoint") {
			l.url(joinPath(path, f.key), f.value.String())
		}
	}
}

// nested applies section to the structs inside a section's field.
func (l *loader) nested(path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			l.nested(path, v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			l.nested(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Struct:
		if _, own := v.Interface().(validator); !own {
			l.section(path, v.Addr().Interface())
		}
	}
}

// secret reads the secret at path from the file named by its *_file twin,
// if set. Both set is a problem, and leaves the secret empty so that nothing
// judges a value that was refused.
func (l *loader) secret(path string, v reflect.Value, file string) {
	switch {
	case file == "":
	case v.String() != "":
		l.add(path, "set either %s or %s_file, not both", lastKey(path), lastKey(path))
		v.SetString("")
	default:
		raw, err := readSecretFile(file)
		if err != nil {
			l.add(path+"_file", "cannot read the secret: %v", err)
			return
		}
		v.SetString(strings.TrimRight(string(raw), "\r\n"))
	}
}

// maxSecretFile bounds what a *_file may hold: secrets are short, and a path
// naming a device (/dev/zero) or a huge file must not hang `jitbot check` or
// exhaust memory.
const maxSecretFile = 64 << 10

func readSecretFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d KiB; a secret file holds the secret alone", name, maxSecretFile>>10)
	}
	return raw, nil
}

func lastKey(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (l *loader) duration(path, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := flows.ParseDuration(s)
	if err != nil {
		l.add(path, "%s", flows.ErrorMessage(err))
		return def
	}
	return d
}

// url checks an endpoint jitbot sends credentials to: https, or plain http
// to a loopback host only (the simulators), and no user info in it.
func (l *loader) url(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		l.add(path, "%q is not an http(s) URL", s)
	case u.User != nil:
		l.add(path, "%q carries a user name or password: put credentials in their own keys", u.Redacted())
	case u.Scheme == "http" && !loopback(u.Hostname()):
		l.add(path, "%q is plain http: tokens would cross the network in clear; use https (http is for a loopback simulator only)", s)
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) check(f *File) *Config {
	cfg := &Config{Listen: f.Listen, AdminListen: f.AdminListen, LogFormat: f.LogFormat, StorePath: f.Store.Path}
	if cfg.Listen == "" {
		cfg.Listen = ":8080"
	}
	if _, port, err := net.SplitHostPort(cfg.Listen); err != nil || port == "" {
		l.add("listen", "%q is not a host:port address such as :8080", cfg.Listen)
	}
	if cfg.AdminListen != "" {
		if _, port, err := net.SplitHostPort(cfg.AdminListen); err != nil || port == "" {
			l.add("admin_listen", "%q is not a host:port address such as 127.0.0.1:9090", cfg.AdminListen)
		} else if cfg.AdminListen == cfg.Listen && port != "0" {
			l.add("admin_listen", "%q is also listen: give the admin API its own port, or leave admin_listen out", cfg.AdminListen)
		}
	}
	switch cfg.LogFormat {
	case "":
		cfg.LogFormat = "json"
	case "json", "text":
	default:
		l.add("log_format", "%q: use json or text", cfg.LogFormat)
	}
	if cfg.StorePath == "" {
		l.add("store.path", "required: where the bbolt file lives, for example /data/jitbot.db")
	}
	// The top level's own keys (admin_token_file); each adapter's section
	// follows in turn.
	l.section("", f)
	cfg.AdminToken = f.AdminToken
	if cfg.AdminToken != "" && len(cfg.AdminToken) < 16 {
		l.add("admin_token", "too short: use at least 16 random characters")
	}
	cfg.ReminderBefore = l.duration("reminder_before", f.ReminderBefore, 15*time.Minute)
	cfg.BackstopGrace = l.duration("backstop_grace", f.BackstopGrace, time.Hour)
	cfg.RotateAfter = l.duration("rotate_after", f.RotateAfter, 24*time.Hour)
	switch cfg.MaxLiveRequests = f.MaxLiveRequests; {
	case cfg.MaxLiveRequests < 0:
		l.add("max_live_requests", "%d: want at least 1 (leave it out for 10)", cfg.MaxLiveRequests)
	case cfg.MaxLiveRequests > 1000:
		l.add("max_live_requests", "%d is more than anyone needs under way at once; the cap keeps one person from flooding the approvers (at most 1000)", cfg.MaxLiveRequests)
	}

	if f.Slack != nil {
		l.section("slack", f.Slack)
		cfg.Slack = f.Slack
	}
	if f.Teams != nil {
		l.section("teams", f.Teams)
		cfg.Teams = f.Teams
	}
	if cfg.Slack == nil && cfg.Teams == nil {
		l.add("slack", "configure slack, teams or both: nobody could reach jitbot otherwise")
	}

	spec := flows.PolicySpec{Admins: f.Admins, Groups: f.Groups}
	for i := range f.Integrations {
		in := &f.Integrations[i]
		l.section(fmt.Sprintf("integrations[%d]", i), in)
		spec.Integrations = append(spec.Integrations, flows.IntegrationSpec{
			Name: in.Name, ProjectID: in.ProjectID, OrganizationID: in.OrganizationID, Owners: in.Owners, OwnerTag: in.OwnerTag, AccessDetails: in.AccessDetails,
		})
		cfg.Integrations = append(cfg.Integrations, in.Integration)
	}
	if len(f.Integrations) == 0 {
		l.add("integrations", "required: at least one Atlas project")
	}
	for _, fl := range f.Flows {
		spec.Flows = append(spec.Flows, flows.FlowSpec{
			Name: fl.Name, Kind: fl.Kind, Integration: fl.Integration, Requesters: fl.Requesters, Resources: fl.Resources, Roles: fl.Roles,
			DefaultDuration: fl.DefaultDuration, MaxDuration: fl.MaxDuration, Approvers: fl.Approvers, Approvals: fl.Approvals,
			AutoApprove: fl.AutoApprove, RequireReason: fl.RequireReason, ExtendRequiresApproval: fl.ExtendRequiresApproval,
			PendingTTL: fl.PendingTTL, ApprovalsChannel: fl.ApprovalsChannel,
		})
	}
	if len(f.Flows) == 0 {
		l.add("flows", "required: at least one access flow")
	}
	policy, err := flows.Compile(spec)
	var verr flows.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, fe := range verr {
			l.add(fe.Path, "%s", fe.Message)
		}
	case err != nil:
		l.add("", "%v", err)
	}
	cfg.Policy = policy
	if cfg.Slack == nil {
		for name, members := range f.Groups {
			for i, m := range members {
				if strings.HasPrefix(m, "slack:") {
					l.add(fmt.Sprintf("groups.%s[%d]", name, i), "%s names a Slack user group, but slack is not configured", m)
				}
			}
		}
	}
	return cfg
}
