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
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/flows"
)

// File is jitbot.yaml as written. Secrets may be given inline (usually as
// ${ENV}) or as a path in the matching *_file key.
type File struct {
	Listen         string              `yaml:"listen"`
	AdminListen    string              `yaml:"admin_listen"`
	LogFormat      string              `yaml:"log_format"`
	Store          StoreFile           `yaml:"store"`
	AdminToken     string              `yaml:"admin_token"`
	AdminTokenFile string              `yaml:"admin_token_file"`
	ReminderBefore string              `yaml:"reminder_before"`
	BackstopGrace  string              `yaml:"backstop_grace"`
	RotateAfter    string              `yaml:"rotate_after"`
	Admins         []string            `yaml:"admins"`
	Slack          *SlackFile          `yaml:"slack"`
	Teams          *TeamsFile          `yaml:"teams"`
	Groups         map[string][]string `yaml:"groups"`
	Integrations   []IntegrationFile   `yaml:"integrations"`
	Flows          []FlowFile          `yaml:"flows"`
}

// StoreFile configures the bbolt file.
type StoreFile struct {
	Path string `yaml:"path"`
}

// SlackFile configures the Slack app.
type SlackFile struct {
	BotToken          string `yaml:"bot_token"`
	BotTokenFile      string `yaml:"bot_token_file"`
	SigningSecret     string `yaml:"signing_secret"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	AppToken          string `yaml:"app_token"`
	AppTokenFile      string `yaml:"app_token_file"`
	APIURL            string `yaml:"api_url"`
	ApprovalsChannel  string `yaml:"approvals_channel"`
}

// TeamsFile configures the Azure bot.
type TeamsFile struct {
	AppID           string `yaml:"app_id"`
	AppPassword     string `yaml:"app_password"`
	AppPasswordFile string `yaml:"app_password_file"`
	// TenantID (required) is the Entra tenant whose users may use jitbot.
	TenantID string `yaml:"tenant_id"`
	// AppType is single_tenant (default) or multi_tenant: the Azure bot's app registration,
	// which only decides where the bot token comes from.
	AppType           string `yaml:"app_type"`
	OpenIDMetadataURL string `yaml:"openid_metadata_url"`
	TokenURL          string `yaml:"token_url"`
	// ServiceHosts replaces the hosts the bot token may be sent to (default: Microsoft's Teams
	// connector hosts, see teams.DefaultServiceHosts).
	ServiceHosts []string `yaml:"service_hosts"`
}

// IntegrationFile is one Atlas project.
type IntegrationFile struct {
	Name          string                         `yaml:"name"`
	ProjectID     string                         `yaml:"project_id"`
	Atlas         AtlasFile                      `yaml:"atlas"`
	Owners        []string                       `yaml:"owners"`
	OwnerTag      string                         `yaml:"owner_tag"`
	AccessDetails string                         `yaml:"access_details"`
	Databases     map[string]map[string][]string `yaml:"databases"`
}

// AtlasFile holds the Atlas Admin API endpoint and credentials.
type AtlasFile struct {
	BaseURL          string         `yaml:"base_url"`
	ClientID         string         `yaml:"client_id"`
	ClientSecret     string         `yaml:"client_secret"`
	ClientSecretFile string         `yaml:"client_secret_file"`
	PublicKey        string         `yaml:"public_key"`
	PrivateKey       string         `yaml:"private_key"`
	PrivateKeyFile   string         `yaml:"private_key_file"`
	RateLimit        *RateLimitFile `yaml:"rate_limit"`
}

// RateLimitFile describes the Atlas token bucket for database users, so
// revocations can start early enough to finish on time.
type RateLimitFile struct {
	Capacity int    `yaml:"capacity"`
	Refill   int    `yaml:"refill"`
	Per      string `yaml:"per"`
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

// Config is a checked configuration, ready for wiring.
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
	Policy         *flows.Policy
	Slack          *Slack
	Teams          *Teams
	Integrations   []Integration
}

// Slack is the checked Slack configuration.
type Slack struct {
	BotToken, SigningSecret, AppToken, APIURL, ApprovalsChannel string
}

// Teams is the checked Teams configuration.
type Teams struct {
	AppID, AppPassword, TenantID, OpenIDMetadataURL, TokenURL string
	// AppType is "", single_tenant or multi_tenant (teams.Config.AppType).
	AppType string
	// ServiceHosts is nil for the teams package's default (teams.DefaultServiceHosts).
	ServiceHosts []string
}

// Integration is the checked Atlas side of an integration.
type Integration struct {
	Name, ProjectID, BaseURL   string
	ClientID, ClientSecret     string
	PublicKey, PrivateKey      string
	OwnerTag                   string
	Databases                  map[string]map[string][]string
	RateLimit                  *flows.RateLimit
	ServiceAccount, APIKeyPair bool
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

var fieldNotFound = regexp.MustCompile(`field (\S+) not found in type config\.(\w+)`)

func (l *loader) typeProblem(msg string) Problem {
	p := l.yamlProblem(errors.New(msg))
	if m := fieldNotFound.FindStringSubmatch(p.Message); m != nil {
		p.Message = fmt.Sprintf("unknown key %q (in %s)", m[1], sectionName(m[2]))
	}
	return p
}

func sectionName(typ string) string {
	switch typ {
	case "File":
		return "the top level"
	case "FlowFile":
		return "a flow"
	case "IntegrationFile":
		return "an integration"
	case "AtlasFile":
		return "atlas"
	case "SlackFile":
		return "slack"
	case "TeamsFile":
		return "teams"
	case "StoreFile":
		return "store"
	case "RateLimitFile":
		return "rate_limit"
	}
	return typ
}

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
		t := v.Type()
		for i := range t.NumField() {
			key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			l.expand(v.Field(i), joinPath(path, key))
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

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// secret returns an inline secret or the content of its *_file, never both.
func (l *loader) secret(path, inline, file string, required bool) string {
	switch {
	case inline != "" && file != "":
		l.add(path, "set either %s or %s_file, not both", lastKey(path), lastKey(path))
		return ""
	case file != "":
		raw, err := readSecretFile(file)
		if err != nil {
			l.add(path+"_file", "cannot read the secret: %v", err)
			return ""
		}
		return strings.TrimRight(string(raw), "\r\n")
	case inline == "" && required:
		l.add(path, "required")
	}
	return inline
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

// serviceHostName is a host name of teams.service_hosts, or "*." and a domain of two labels
// or more.
var serviceHostName = regexp.MustCompile(`^(?:\*\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)$`)

// validServiceHost reports whether h is a valid teams.service_hosts entry: a host name, an IP
// address (tests' loopback fakes), or a "*.domain" wildcard.
func validServiceHost(h string) bool { return net.ParseIP(h) != nil || serviceHostName.MatchString(h) }

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
	cfg.AdminToken = l.secret("admin_token", f.AdminToken, f.AdminTokenFile, false)
	if cfg.AdminToken != "" && len(cfg.AdminToken) < 16 {
		l.add("admin_token", "too short: use at least 16 random characters")
	}
	cfg.ReminderBefore = l.duration("reminder_before", f.ReminderBefore, 15*time.Minute)
	cfg.BackstopGrace = l.duration("backstop_grace", f.BackstopGrace, time.Hour)
	cfg.RotateAfter = l.duration("rotate_after", f.RotateAfter, 24*time.Hour)

	if s := f.Slack; s != nil {
		cfg.Slack = &Slack{
			BotToken:         l.secret("slack.bot_token", s.BotToken, s.BotTokenFile, true),
			AppToken:         l.secret("slack.app_token", s.AppToken, s.AppTokenFile, false),
			APIURL:           s.APIURL,
			ApprovalsChannel: s.ApprovalsChannel,
		}
		// Socket Mode needs no signing secret: Slack's websocket is the proof.
		cfg.Slack.SigningSecret = l.secret("slack.signing_secret", s.SigningSecret, s.SigningSecretFile, cfg.Slack.AppToken == "")
		if t := cfg.Slack.BotToken; t != "" && !strings.HasPrefix(t, "xoxb-") {
			l.add("slack.bot_token", "a bot token starts with xoxb-")
		}
		if t := cfg.Slack.AppToken; t != "" && !strings.HasPrefix(t, "xapp-") {
			l.add("slack.app_token", "an app-level token starts with xapp-")
		}
		l.url("slack.api_url", s.APIURL)
	}
	if t := f.Teams; t != nil {
		cfg.Teams = &Teams{AppID: t.AppID, TenantID: strings.TrimSpace(t.TenantID), AppType: t.AppType,
			OpenIDMetadataURL: t.OpenIDMetadataURL, TokenURL: t.TokenURL, ServiceHosts: t.ServiceHosts,
			AppPassword: l.secret("teams.app_password", t.AppPassword, t.AppPasswordFile, true)}
		if t.AppID == "" {
			l.add("teams.app_id", "required: the Microsoft App ID of the Azure bot")
		}
		if cfg.Teams.TenantID == "" {
			l.add("teams.tenant_id", "required: the Directory (tenant) ID of your Entra tenant. jitbot knows people by email, "+
				"which any tenant's admins can set on their users, so it only trusts people of this tenant "+
				"(a multi-tenant app registration also needs it: set app_type: multi_tenant)")
		}
		switch t.AppType {
		case "", "single_tenant", "multi_tenant":
		default:
			l.add("teams.app_type", "%q: use single_tenant (the default) or multi_tenant, as the Azure bot's app registration says", t.AppType)
		}
		if t.ServiceHosts != nil && len(t.ServiceHosts) == 0 {
			l.add("teams.service_hosts", "empty: leave it out for Microsoft's Teams service hosts, or list the hosts the bot token may go to")
		}
		for i, h := range t.ServiceHosts {
			if !validServiceHost(h) {
				l.add(fmt.Sprintf("teams.service_hosts[%d]", i), `%q: want a host name, an IP address or "*.domain", without scheme, port or path`, h)
			}
		}
		l.url("teams.openid_metadata_url", t.OpenIDMetadataURL)
		l.url("teams.token_url", t.TokenURL)
	}
	if cfg.Slack == nil && cfg.Teams == nil {
		l.add("slack", "configure slack, teams or both: nobody could reach jitbot otherwise")
	}

	spec := flows.PolicySpec{Admins: f.Admins, Groups: f.Groups}
	for i, in := range f.Integrations {
		at := fmt.Sprintf("integrations[%d]", i)
		spec.Integrations = append(spec.Integrations, flows.IntegrationSpec{
			Name: in.Name, ProjectID: in.ProjectID, Owners: in.Owners, OwnerTag: in.OwnerTag, AccessDetails: in.AccessDetails,
		})
		cfg.Integrations = append(cfg.Integrations, l.integration(at, in))
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

func (l *loader) integration(at string, in IntegrationFile) Integration {
	a := in.Atlas
	out := Integration{
		Name: in.Name, ProjectID: in.ProjectID, BaseURL: a.BaseURL, ClientID: a.ClientID, PublicKey: a.PublicKey,
		OwnerTag: in.OwnerTag, Databases: in.Databases,
	}
	if out.BaseURL == "" {
		out.BaseURL = "https://cloud.mongodb.com"
	}
	l.url(at+".atlas.base_url", a.BaseURL)
	out.ServiceAccount = a.ClientID != "" || a.ClientSecret != "" || a.ClientSecretFile != ""
	out.APIKeyPair = a.PublicKey != "" || a.PrivateKey != "" || a.PrivateKeyFile != ""
	switch {
	case out.ServiceAccount && out.APIKeyPair:
		l.add(at+".atlas", "use a service account (client_id, client_secret) or an API key pair (public_key, private_key), not both")
	case out.ServiceAccount:
		if a.ClientID == "" {
			l.add(at+".atlas.client_id", "required with client_secret")
		}
		out.ClientSecret = l.secret(at+".atlas.client_secret", a.ClientSecret, a.ClientSecretFile, true)
	case out.APIKeyPair:
		if a.PublicKey == "" {
			l.add(at+".atlas.public_key", "required with private_key")
		}
		out.PrivateKey = l.secret(at+".atlas.private_key", a.PrivateKey, a.PrivateKeyFile, true)
	default:
		l.add(at+".atlas", "credentials required: a service account (client_id, client_secret; recommended) or an API key pair (public_key, private_key)")
	}
	if rl := a.RateLimit; rl != nil {
		per := l.duration(at+".atlas.rate_limit.per", rl.Per, time.Minute)
		if rl.Capacity < 1 || rl.Refill < 1 {
			l.add(at+".atlas.rate_limit", "capacity and refill must be at least 1")
		} else {
			out.RateLimit = &flows.RateLimit{Capacity: rl.Capacity, Refill: rl.Refill, Per: per}
		}
	}
	for cluster, dbs := range in.Databases {
		for db, colls := range dbs {
			res := flows.Resource{Integration: "x", Cluster: cluster, Database: db}
			if err := res.Validate(); err != nil {
				l.add(at+".databases."+cluster, "%s", flows.ErrorMessage(err))
				continue
			}
			for _, c := range colls {
				res.Collection = c
				if err := res.Validate(); err != nil {
					l.add(at+".databases."+cluster+"."+db, "%s", flows.ErrorMessage(err))
				}
			}
		}
	}
	return out
}
