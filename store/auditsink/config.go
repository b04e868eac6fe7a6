package auditsink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Config is the audit section of jitbot.yaml: where the audit log is
// streamed.
//
//	audit:
//	  sinks:
//	    - name: siem
//	      webhook: {url: https://siem.example.com/jitbot, secret_file: /run/secrets/audit_webhook}
//	    - name: syslog
//	      syslog: {address: logs.example.com:6514, ca_file: /etc/jitbot/logs-ca.pem}
type Config struct {
	Sinks []SinkConfig `yaml:"sinks"`
}

// SinkConfig is one sink: a name (its cursor's key in the store: renaming a
// sink streams the whole log to it again) and exactly one of webhook or
// syslog.
type SinkConfig struct {
	Name    string         `yaml:"name"`
	Webhook *WebhookConfig `yaml:"webhook"`
	Syslog  *SyslogConfig  `yaml:"syslog"`
}

// WebhookConfig is a webhook sink: events POSTed as JSON to URL, signed
// with Secret (see VerifySignature).
type WebhookConfig struct {
	URL        string `yaml:"url" check:"endpoint"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
}

// SyslogConfig is a syslog sink: RFC 5424 over TLS to Address.
type SyslogConfig struct {
	Address string `yaml:"address"`
	// CAFile is the PEM CA that signed the receiver's certificate (empty:
	// the system's roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for receivers that
	// ask for one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// AppName is the messages' APP-NAME (jitbot).
	AppName string `yaml:"app_name"`
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// minSecret is the shortest webhook secret accepted: HMAC's strength is the
// secret's.
const minSecret = 16

// Validate reports what is wrong with the audit section, each problem with
// its path in it. The loader has read each secret_file into its secret.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	seen := map[string]bool{}
	for i, s := range c.Sinks {
		at := fmt.Sprintf("sinks[%d]", i)
		switch {
		case s.Name == "":
			errs.Add(at+".name", "required: the sink's name keys its place in the audit log")
		case !sinkName.MatchString(s.Name):
			errs.Add(at+".name", "%q: use lower-case letters, digits, '-', '_' and '.' (at most 63)", s.Name)
		case seen[s.Name]:
			errs.Add(at+".name", "%q names another sink too: each sink needs its own name", s.Name)
		}
		seen[s.Name] = true
		switch {
		case s.Webhook == nil && s.Syslog == nil:
			errs.Add(at, "configure webhook or syslog")
		case s.Webhook != nil && s.Syslog != nil:
			errs.Add(at, "configure webhook or syslog, not both: give each its own sink")
		case s.Webhook != nil:
			w := s.Webhook
			if w.URL == "" {
				errs.Add(at+".webhook.url", "required: where the events are POSTed")
			}
			switch {
			case w.Secret == "" && w.SecretFile == "":
				errs.Add(at+".webhook.secret", "required: the receiver verifies each request's signature with it")
			case w.Secret != "" && len(w.Secret) < minSecret:
				errs.Add(at+".webhook.secret", "too short: use at least %d random characters", minSecret)
			}
		default:
			errs = append(errs, s.Syslog.validate(at+".syslog")...)
		}
	}
	return errs
}

func (c *SyslogConfig) validate(at string) []flows.FieldError {
	var errs flows.ValidationError
	if c.Address == "" {
		errs.Add(at+".address", "required: the receiver's host:port (6514 for syslog over TLS)")
	} else if host, port, err := net.SplitHostPort(c.Address); err != nil || host == "" || port == "" {
		errs.Add(at+".address", "%q is not a host:port address such as logs.example.com:6514", c.Address)
	}
	if c.AppName != "" && (len(c.AppName) > 48 || strings.ContainsFunc(c.AppName, func(r rune) bool { return r < 33 || r > 126 })) {
		errs.Add(at+".app_name", "%q: RFC 5424 allows at most 48 printable ASCII characters, no spaces", c.AppName)
	}
	if _, err := TLSConfig(c.CAFile, c.CertFile, c.KeyFile); err != nil {
		key, msg, ok := strings.Cut(err.Error(), ": ")
		if !ok || strings.Contains(key, " ") {
			key, msg = "cert_file", err.Error()
		}
		errs.Add(at+"."+key, "%s", msg)
	}
	return errs
}

// Deps are what the streamers of a configuration work with.
type Deps struct {
	StreamDeps
	Stream StreamConfig
	// HTTPClient posts to webhooks (nil: one with a 30 s timeout).
	HTTPClient *http.Client
}

// Streamers are the workers of a configuration's sinks, one each.
type Streamers []*Streamer

// New builds a streamer for each configured sink (none when c is nil).
func New(c *Config, deps Deps) (Streamers, error) {
	if c == nil {
		return nil, nil
	}
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("auditsink: %s: %s", errs[0].Path, errs[0].Message)
	}
	var out Streamers
	for _, sc := range c.Sinks {
		var sink Sink
		var err error
		if sc.Webhook != nil {
			sink, err = NewWebhook(sc.Webhook.URL, sc.Webhook.Secret, deps.HTTPClient, deps.Clock)
		} else {
			var tc = sc.Syslog
			cfg, terr := TLSConfig(tc.CAFile, tc.CertFile, tc.KeyFile)
			if terr != nil {
				err = terr
			} else {
				sink, err = NewSyslog(SyslogOptions{Address: tc.Address, TLS: cfg, AppName: tc.AppName})
			}
		}
		if err == nil {
			var s *Streamer
			if s, err = NewStreamer(sc.Name, sink, deps.Stream, deps.StreamDeps); err == nil {
				out = append(out, s)
				continue
			}
		}
		_ = out.Close()
		return nil, fmt.Errorf("auditsink: sink %q: %w", sc.Name, err)
	}
	return out, nil
}

// Run runs every streamer, each in a goroutine go starts (a WaitGroup's
// Go), until ctx ends.
func (ss Streamers) Run(ctx context.Context, goroutine func(func())) {
	for _, s := range ss {
		goroutine(func() { s.Run(ctx) })
	}
}

// Kick wakes every streamer: records were appended.
func (ss Streamers) Kick() {
	for _, s := range ss {
		s.Kick()
	}
}

// Stats returns every sink's.
func (ss Streamers) Stats() []Stats {
	out := make([]Stats, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Stats())
	}
	return out
}

// Close closes every sink; call it once the streamers stopped.
func (ss Streamers) Close() error {
	var errs []error
	for _, s := range ss {
		errs = append(errs, s.sink.Close())
	}
	return errors.Join(errs...)
}
