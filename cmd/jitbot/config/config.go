package config

import (
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
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/bot/identity"
	"github.com/jitbot/jitbot/bot/slack"
	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/cmd/internal/jira"
	"github.com/jitbot/jitbot/cmd/internal/pagerduty"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/auditsink"
	"github.com/jitbot/jitbot/store/etcdstore"
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
	Audit           *auditsink.Config   `yaml:"audit"`
	// PagerDuty answers who is on call (flows with oncall); Jira checks
	// tickets (flows with ticket).
	PagerDuty *pagerduty.Config `yaml:"pagerduty"`
	Jira      *jira.Config      `yaml:"jira"`
	Identity  *identity.Config  `yaml:"identity"`
}

// StoreFile configures where jitbot keeps its state: a bbolt file (path:
// one replica, the default) or an etcd cluster (etcd: several replicas).
type StoreFile struct {
	Path string            `yaml:"path"`
	Etcd *etcdstore.Config `yaml:"etcd"`
}

// IntegrationFile is one Atlas project: the Atlas adapter's integration, and
// the keys the policy alone reads.
type IntegrationFile struct {
	atlas.Integration `yaml:",inline"`
	Owners            []string `yaml:"owners"`
	AccessDetails     string   `yaml:"access_details"`
	// OIDCIdentityProviderID names the project's OIDC database users
	// (flows with auth: oidc): the id of its workforce identity provider.
	OIDCIdentityProviderID string `yaml:"oidc_identity_provider_id"`
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
	// Reminders and escalation of a pending request
	// (flows.FlowSpec.RemindAfter, flows.EscalationSpec).
	RemindAfter string           `yaml:"remind_after"`
	Escalation  []EscalationFile `yaml:"escalation"`
	// A reason every request must match (flows.FlowSpec.ReasonPattern).
	ReasonPattern string `yaml:"reason_pattern"`
	ReasonMessage string `yaml:"reason_message"`
	// Approvals from each of several groups (flows.FlowSpec.ApprovalsFrom).
	ApprovalsFrom []GroupApprovalFile `yaml:"approvals_from"`
	// A working-hours window (flows.HoursSpec).
	Hours *HoursFile `yaml:"hours"`
	// A break-glass flow (flows.BreakGlassSpec).
	BreakGlass *BreakGlassFile `yaml:"break_glass"`
	// Database users without a password (flows.FlowSpec.Auth).
	Auth         string `yaml:"auth"`
	OIDCUsername string `yaml:"oidc_username"`
	AWSIAMARN    string `yaml:"aws_iam_arn"`
	// Network access (kind access_list_entry; flows.FlowSpec.AllowedCIDRs).
	AllowedCIDRs   []string `yaml:"allowed_cidrs"`
	WidestPrefixV4 int      `yaml:"widest_prefix_v4"`
	WidestPrefixV6 int      `yaml:"widest_prefix_v6"`
	AllowPublic    bool     `yaml:"allow_public"`
	// AcceptNoBackstop lets a flow grant programmatic API keys, which Atlas never expires.
	AcceptNoBackstop bool `yaml:"accept_no_backstop"`
	// Atlas UI access (kind atlas_ui; flows.FlowSpec.AllowStandingAccess):
	// the roles that let a person create access outliving the grant, opted
	// into by name.
	AllowStandingAccess []string `yaml:"allow_standing_access"`
	// The people on call approve (flows.OnCallSpec); the reason names a
	// ticket checked in Jira (flows.TicketSpec).
	OnCall *OnCallFile `yaml:"oncall"`
	Ticket *TicketFile `yaml:"ticket"`
	// StepUp requires a fresh multi-factor sign-in at the identity
	// provider to approve (flows.StepUpSpec; needs the identity section).
	StepUp *StepUpFile `yaml:"step_up"`
	// ThirdParty lets sponsors ask for access for guests outside the
	// company (flows.ThirdPartySpec; needs the identity section).
	ThirdParty *ThirdPartyFile `yaml:"third_party"`
}

// ThirdPartyFile is a flow's third_party.
type ThirdPartyFile struct {
	Sponsors     []string `yaml:"sponsors"`
	EmailDomains []string `yaml:"email_domains"`
	AMR          []string `yaml:"amr"`
	ACRValues    []string `yaml:"acr_values"`
}

// StepUpFile is a flow's step_up.
type StepUpFile struct {
	Approve   bool     `yaml:"approve"`
	Request   bool     `yaml:"request"`
	ACRValues []string `yaml:"acr_values"`
	AMR       []string `yaml:"amr"`
}

// GroupApprovalFile is one group's approvals a flow needs.
type GroupApprovalFile struct {
	Group string `yaml:"group"`
	Count int    `yaml:"count"`
}

// OnCallFile is a flow's on-call rule.
type OnCallFile struct {
	Schedules          []string `yaml:"schedules"`
	EscalationPolicies []string `yaml:"escalation_policies"`
	Levels             []int    `yaml:"levels"`
	AutoApproveOnCall  bool     `yaml:"auto_approve_oncall"`
}

// TicketFile is a flow's ticket rule.
type TicketFile struct {
	Required        bool     `yaml:"required"`
	Projects        []string `yaml:"projects"`
	OnOutage        string   `yaml:"on_outage"`
	EndWhenResolved bool     `yaml:"end_when_resolved"`
}

// HoursFile is a flow's working hours and what happens outside them.
type HoursFile struct {
	Zone      string `yaml:"zone"`
	Days      string `yaml:"days"`
	From      string `yaml:"from"`
	To        string `yaml:"to"`
	Outside   string `yaml:"outside"`
	Flow      string `yaml:"flow"`
	Approvals int    `yaml:"approvals"`
}

// BreakGlassFile makes a flow a break-glass flow.
type BreakGlassFile struct {
	MaxDuration  string           `yaml:"max_duration"`
	OncePer      string           `yaml:"once_per"`
	Reviewers    []string         `yaml:"reviewers"`
	ReviewWithin string           `yaml:"review_within"`
	RemindAfter  string           `yaml:"remind_after"`
	Escalation   []EscalationFile `yaml:"escalation"`
	Channel      string           `yaml:"channel"`
}

func breakGlassSpec(b *BreakGlassFile) *flows.BreakGlassSpec {
	if b == nil {
		return nil
	}
	return &flows.BreakGlassSpec{MaxDuration: b.MaxDuration, OncePer: b.OncePer, Reviewers: b.Reviewers, ReviewWithin: b.ReviewWithin,
		RemindAfter: b.RemindAfter, Escalation: escalationSpecs(b.Escalation), Channel: b.Channel}
}

// EscalationFile is one escalation tier of a flow.
type EscalationFile struct {
	After     string   `yaml:"after"`
	Approvers []string `yaml:"approvers"`
	Channel   string   `yaml:"channel"`
}

// Config is a checked configuration, ready for wiring. The adapters'
// configurations are theirs, as read and checked; the wiring sets only their
// runtime fields (clocks, HTTP clients, logs).
type Config struct {
	Path   string
	Listen string
	// AdminListen, when set, is where the admin API and /metrics are served
	// instead of on Listen (which faces Slack and Teams).
	AdminListen string
	LogFormat   string
	// StorePath is the bbolt file; StoreEtcd, when set instead, the etcd
	// cluster jitbot runs on.
	StorePath      string
	StoreEtcd      *etcdstore.Config
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
	// Audit is where the audit log is streamed (nil: nowhere).
	Audit *auditsink.Config
	// PagerDuty and Jira, when configured (nil: not).
	PagerDuty *pagerduty.Config
	Jira      *jira.Config
	// Identity is the identity provider chat accounts are bound through
	// (nil: people are who their chat profile says).
	Identity *identity.Config
	// Warnings are what in the file can never take effect, although jitbot
	// serves with it (a flow that can match nothing): `jitbot check` shows
	// them, serve logs them.
	Warnings Problems
}

// Env looks up an environment variable.
type Env func(name string) (string, bool)

// Load reads and checks the configuration at path, expanding ${NAME} from
// env. It is the whole of what `jitbot serve` checks before it starts
// anything, and all that `jitbot check` runs: the two cannot disagree. Its
// error is the Problems found (each with its path and line, every one of
// them, warnings included) or the file's own (os.ErrNotExist).
func Load(path string, env Env) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, raw, env)
}

// Parse checks a configuration held in memory; name is used in messages.
func Parse(name string, raw []byte, env Env) (*Config, error) {
	l := newLoader(name, env)
	cfg := l.load(raw)
	if len(l.problems.Errors()) > 0 {
		return nil, l.sorted()
	}
	cfg.Path = name
	cfg.Warnings = l.sorted()
	return cfg, nil
}

// LoadPolicy reads the access policy alone from the configuration at path
// (admins, groups, the integrations' policy keys, flows), for `jitbot
// explain`: it needs neither the secrets nor the environment that hold
// them, so that a CI job can test the policy with the file alone. The file
// must still be well formed, every key known.
func LoadPolicy(path string, env Env) (*flows.Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	l := newLoader(path, env)
	l.policyOnly = true
	cfg := l.load(raw)
	switch {
	case len(l.problems.Errors()) > 0:
		return nil, l.sorted()
	case cfg.Policy == nil:
		// Only a fault of jitbot's own kinds stops Compile without a
		// problem in the file: not the policy's, so not reported as one.
		return nil, fmt.Errorf("config: %s: the policy could not be compiled", path)
	}
	return cfg.Policy, nil
}

type loader struct {
	name     string
	env      Env
	problems Problems
	// lines is the line of each path written in the file (a key's, or a
	// list item's).
	lines map[string]int
	// refused are paths whose value was refused (of the wrong type, a
	// secret that could not be read): nothing at or below them is judged
	// again, which would only repeat the problem in other words.
	refused []string
	// policyOnly: only the policy is wanted (LoadPolicy). Secret files are
	// not read, and only the policy's problems and the file's shape count.
	policyOnly bool
	steps      int
	tooDeep    bool
}

func newLoader(name string, env Env) *loader {
	return &loader{name: name, env: env, lines: map[string]int{}}
}

// load decodes and checks raw, collecting every problem.
func (l *loader) load(raw []byte) *Config {
	var f File
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		l.syntaxProblems(raw, err)
		return &Config{}
	}
	if doc := document(&root); doc != nil {
		l.lines[""] = doc.Line
		if doc.Kind != yaml.MappingNode {
			l.addAt(doc.Line, "", "the file must be a mapping of keys (listen, store, slack, integrations, flows...), not %s", kindName(doc))
			return &Config{}
		}
		l.decode(doc, reflect.ValueOf(&f).Elem(), "", nil, 0)
	}
	// An empty file is an empty configuration: the checks say what is missing.
	l.expand(reflect.ValueOf(&f).Elem(), "")
	cfg := l.check(&f)
	if cfg.Policy != nil {
		for _, w := range cfg.Policy.Warnings() {
			l.warn(w.Path, "%s", w.Message)
		}
	}
	return cfg
}

// document is the top node of the first document, or nil for an empty
// file (or one that is only null).
func document(root *yaml.Node) *yaml.Node {
	n := root
	if n.Kind == 0 {
		return nil // nothing at all in the file
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", excerpt(n.Value))
	}
	return "an alias"
}

// sorted is the problems in the order of the file.
func (l *loader) sorted() Problems {
	sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
	return l.problems
}

// add reports an error at path, unless the value there (or above it) was
// refused already.
func (l *loader) add(path, format string, args ...any) {
	l.report(Error, path, format, args...)
}

// warn reports a warning at path.
func (l *loader) warn(path, format string, args ...any) {
	l.report(Warning, path, format, args...)
}

func (l *loader) report(sev Severity, path, format string, args ...any) {
	if l.isRefused(path) || (l.policyOnly && !policyPath(path)) {
		return
	}
	l.problems = append(l.problems, Problem{File: l.name, Line: l.line(path), Path: path, Message: fmt.Sprintf(format, args...), Severity: sev})
}

// addAt reports an error the decoder found at a line: always, whatever
// refusals and whatever LoadPolicy wants (the file's shape is everyone's).
func (l *loader) addAt(line int, path, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.name, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// refuse marks path's value as refused (see loader.refused).
func (l *loader) refuse(path string) { l.refused = append(l.refused, path) }

func (l *loader) isRefused(path string) bool {
	for _, r := range l.refused {
		if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
			return true
		}
	}
	return false
}

// policyPath reports whether path is part of the access policy (what
// LoadPolicy reads).
func policyPath(path string) bool {
	head, rest, _ := strings.Cut(path, ".")
	switch {
	case path == "", // the file as a whole
		head == "admins" || strings.HasPrefix(head, "admins["), head == "groups",
		head == "flows" || strings.HasPrefix(head, "flows["), head == "integrations":
		return true
	case strings.HasPrefix(head, "integrations["):
		key, _, _ := strings.Cut(rest, ".")
		key, _, _ = strings.Cut(key, "[")
		return slices.Contains([]string{"", "name", "project_id", "owners", "owner_tag", "access_details", "oidc_identity_provider_id"}, key)
	}
	return false
}

// line is the line of path in the file: its own if it is written there,
// else that of the nearest key above it.
func (l *loader) line(path string) int {
	for {
		if n, ok := l.lines[path]; ok {
			return n
		}
		if path == "" {
			return 0
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			i = 0
		}
		path = path[:i]
	}
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
		missing := false
		v.SetString(envRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			val, ok := l.env(name)
			if !ok {
				l.add(path, "environment variable %s is not set", name)
				missing = true
			}
			return val
		}))
		if missing {
			l.refuse(path) // not "required" as well
		}
	}
}

// keyedField is a field of a decoded struct that has a key in the file.
type keyedField struct {
	key   string
	value reflect.Value
	// checks are the generic rules the field declares in its check tag
	// ("endpoint", "trim", "id").
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
		if slices.Contains(f.checks, "id") {
			l.notPlaceholder(at, f.value.String())
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
// if set, and refuses a secret that is blank or a placeholder. A refused
// secret is left empty, and nothing judges it again: Validate would only
// say it is required.
func (l *loader) secret(path string, v reflect.Value, file string) {
	switch {
	case l.policyOnly:
		// The policy needs no secret: its files are not read.
	case file == "":
		if v.String() != "" && !l.notPlaceholder(path, v.String()) {
			v.SetString("")
		}
	case v.String() != "":
		l.add(path, "set either %s or %s_file, not both", lastKey(path), lastKey(path))
		v.SetString("")
		l.refuse(path)
	default:
		raw, err := readSecretFile(file)
		secret := strings.TrimRight(string(raw), "\r\n")
		switch {
		case err != nil:
			l.add(path+"_file", "cannot read the secret: %v", err)
		case strings.TrimSpace(secret) == "":
			l.add(path+"_file", "%s is empty: the file must hold the secret", file)
		case placeholder(secret) != "":
			l.add(path+"_file", "%s holds a placeholder (%s), not a real secret", file, placeholder(secret))
		default:
			v.SetString(secret)
			return
		}
		l.refuse(path)
	}
}

// notPlaceholder reports a value that is blank, or a placeholder left from
// an example or a template: jitbot would start, and fail at the first call
// that uses it. The value is not quoted (it may be a secret), only the
// marker that gave it away.
func (l *loader) notPlaceholder(path, value string) bool {
	switch {
	case value != "" && strings.TrimSpace(value) == "":
		l.add(path, "blank: set the real value, or leave the key out")
	case placeholder(value) != "":
		l.add(path, "looks like a placeholder (%s), not a real value: set the real one", placeholder(value))
	default:
		return true
	}
	l.refuse(path)
	return false
}

// placeholderWords mark a value copied from an example and never filled in
// (xoxb-REPLACE-ME, changeme, TODO); placeholder looks for them as whole
// words, so that a random token that happens to hold the letters is not
// taken for one.
var placeholderWords = []string{"replace", "replaceme", "changeme", "todo", "fixme", "placeholder", "tbd", "example", "dummy", "redacted"}

// placeholder returns what marks s as a placeholder (a word such as
// REPLACE, <angle brackets> around it, a run of x or *), or "".
func placeholder(s string) string {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '<' && t[len(t)-1] == '>' {
		return "<...>"
	}
	if len(t) >= 3 && strings.Trim(t, "*.#?") == "" {
		return t
	}
	words := strings.FieldsFunc(t, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		lower := strings.ToLower(w)
		next := ""
		if i+1 < len(words) {
			next = strings.ToLower(words[i+1])
		}
		switch {
		case slices.Contains(placeholderWords, lower),
			len(lower) >= 3 && strings.Trim(lower, "x") == "":
			return w
		case lower == "change" && next == "me", lower == "your" && next != "":
			return w + " " + words[i+1]
		}
	}
	return ""
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
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "":
		l.add(path, "%q is not an http(s) URL", s)
	case u.User != nil:
		l.add(path, "%q carries a user name or password: put credentials in their own keys", u.Redacted())
	case u.Scheme == "http" && !loopback(u.Hostname()):
		l.add(path, "%q is plain http: tokens would cross the network in clear; use https (http is for a loopback simulator only)", s)
	}
}

// listenAddr reports whether addr is one serve can listen on, as far as the
// address itself says: host:port with a port number (net.Listen refuses a
// port out of range, and would look a name such as "http" up in the
// machine's services file). Whether the host resolves, and the port is
// free, is the machine's to say when serve starts.
func listenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n <= 65535
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
	if !listenAddr(cfg.Listen) {
		l.add("listen", "%q is not a host:port address such as :8080 (a port from 0 to 65535)", cfg.Listen)
	}
	if cfg.AdminListen != "" {
		if _, port, _ := net.SplitHostPort(cfg.AdminListen); !listenAddr(cfg.AdminListen) {
			l.add("admin_listen", "%q is not a host:port address such as 127.0.0.1:9090 (a port from 0 to 65535)", cfg.AdminListen)
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
	switch {
	case f.Store.Etcd != nil && cfg.StorePath != "":
		l.add("store.etcd", "set store.path (a bbolt file: one replica) or store.etcd (an etcd cluster: several replicas), not both")
	case f.Store.Etcd != nil:
		l.section("store.etcd", f.Store.Etcd)
		cfg.StoreEtcd = f.Store.Etcd
	case cfg.StorePath == "":
		l.add("store.path", "required: where the bbolt file lives, for example /data/jitbot.db (or store.etcd, for several replicas)")
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
	if f.Audit != nil {
		l.section("audit", f.Audit)
		cfg.Audit = f.Audit
	}
	if f.PagerDuty != nil {
		l.section("pagerduty", f.PagerDuty)
		cfg.PagerDuty = f.PagerDuty
	}
	if f.Jira != nil {
		l.section("jira", f.Jira)
		cfg.Jira = f.Jira
	}
	if f.Identity != nil {
		l.section("identity", f.Identity)
		cfg.Identity = f.Identity
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
			OIDCIdentityProviderID: in.OIDCIdentityProviderID, APIKeyOwner: in.OrgOwner.Set(),
		})
		cfg.Integrations = append(cfg.Integrations, in.Integration)
	}
	if len(f.Integrations) == 0 {
		l.add("integrations", "required: at least one Atlas project")
	}
	for i, fl := range f.Flows {
		if fl.OnCall != nil && f.PagerDuty == nil {
			l.add(fmt.Sprintf("flows[%d].oncall", i), "the people on call are read from PagerDuty: configure the pagerduty section (api_key)")
		}
		if fl.Ticket != nil && f.Jira == nil {
			l.add(fmt.Sprintf("flows[%d].ticket", i), "tickets are checked in Jira: configure the jira section (base_url, email, api_token)")
		}
		spec.Flows = append(spec.Flows, flows.FlowSpec{
			OnCall: onCallSpec(fl.OnCall), Ticket: ticketSpec(fl.Ticket),
			Name: fl.Name, Kind: fl.Kind, Integration: fl.Integration, Requesters: fl.Requesters, Resources: fl.Resources, Roles: fl.Roles,
			DefaultDuration: fl.DefaultDuration, MaxDuration: fl.MaxDuration, Approvers: fl.Approvers, Approvals: fl.Approvals,
			AutoApprove: fl.AutoApprove, RequireReason: fl.RequireReason, ExtendRequiresApproval: fl.ExtendRequiresApproval,
			PendingTTL: fl.PendingTTL, ApprovalsChannel: fl.ApprovalsChannel, RemindAfter: fl.RemindAfter, Escalation: escalationSpecs(fl.Escalation),
			ReasonPattern: fl.ReasonPattern, ReasonMessage: fl.ReasonMessage, ApprovalsFrom: groupApprovals(fl.ApprovalsFrom), Hours: (*flows.HoursSpec)(fl.Hours),
			BreakGlass: breakGlassSpec(fl.BreakGlass), Auth: fl.Auth, OIDCUsername: fl.OIDCUsername, AWSIAMARN: fl.AWSIAMARN,
			AllowedCIDRs: fl.AllowedCIDRs, WidestPrefixV4: fl.WidestPrefixV4, WidestPrefixV6: fl.WidestPrefixV6, AllowPublic: fl.AllowPublic,
			AllowStandingAccess: fl.AllowStandingAccess, AcceptNoBackstop: fl.AcceptNoBackstop, StepUp: stepUpSpec(fl.StepUp),
			ThirdParty: (*flows.ThirdPartySpec)(fl.ThirdParty),
		})
	}
	if len(f.Flows) == 0 {
		l.add("flows", "required: at least one access flow")
	}
	for i, fl := range f.Flows {
		if fl.StepUp != nil && f.Identity == nil {
			l.add(fmt.Sprintf("flows[%d].step_up", i), "needs the identity section: the fresh sign-in happens at its identity provider")
		}
		if fl.ThirdParty != nil && f.Identity == nil {
			l.add(fmt.Sprintf("flows[%d].third_party", i), "needs the identity section: a guest signs in at its identity provider before seeing a password")
		}
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

func escalationSpecs(tiers []EscalationFile) []flows.EscalationSpec {
	var out []flows.EscalationSpec
	for _, t := range tiers {
		out = append(out, flows.EscalationSpec(t))
	}
	return out
}

func groupApprovals(gs []GroupApprovalFile) []flows.GroupApprovalSpec {
	var out []flows.GroupApprovalSpec
	for _, g := range gs {
		out = append(out, flows.GroupApprovalSpec(g))
	}
	return out
}

func onCallSpec(o *OnCallFile) *flows.OnCallSpec {
	if o == nil {
		return nil
	}
	spec := flows.OnCallSpec(*o)
	return &spec
}

func ticketSpec(t *TicketFile) *flows.TicketSpec {
	if t == nil {
		return nil
	}
	spec := flows.TicketSpec(*t)
	return &spec
}

// stepUpSpec is a flow's step_up for the policy (nil: none).
func stepUpSpec(f *StepUpFile) *flows.StepUpSpec {
	if f == nil {
		return nil
	}
	return &flows.StepUpSpec{Approve: f.Approve, Request: f.Request, ACRValues: f.ACRValues, AMR: f.AMR}
}
