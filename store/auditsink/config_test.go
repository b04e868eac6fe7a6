package auditsink_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/auditsink"
)

func TestConfigValidate(t *testing.T) {
	p := newPKI(t)
	hook := func(name, url, secret string) auditsink.SinkConfig {
		return auditsink.SinkConfig{Name: name, Webhook: &auditsink.WebhookConfig{URL: url, Secret: secret}}
	}
	logs := func(name string, c auditsink.SyslogConfig) auditsink.SinkConfig {
		return auditsink.SinkConfig{Name: name, Syslog: &c}
	}
	good := hook("siem", "https://siem.example.com/jitbot", secret)
	for _, tt := range []struct {
		name  string
		sinks []auditsink.SinkConfig
		want  []string // "path: message fragment"
	}{
		{"none", nil, nil},
		{"a webhook and a syslog", []auditsink.SinkConfig{good, logs("logs", auditsink.SyslogConfig{Address: "logs.example.com:6514", CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile})}, nil},
		{"no name", []auditsink.SinkConfig{hook("", "https://x.example.com", secret)}, []string{"sinks[0].name: required"}},
		{"a bad name", []auditsink.SinkConfig{hook("My SIEM", "https://x.example.com", secret)}, []string{"sinks[0].name: \"My SIEM\": use lower-case"}},
		{"a name twice", []auditsink.SinkConfig{good, good}, []string{"sinks[1].name: \"siem\" names another sink too"}},
		{"neither", []auditsink.SinkConfig{{Name: "x"}}, []string{"sinks[0]: configure webhook or syslog"}},
		{"both", []auditsink.SinkConfig{{Name: "x", Webhook: good.Webhook, Syslog: &auditsink.SyslogConfig{Address: "a:1"}}}, []string{"sinks[0]: configure webhook or syslog, not both"}},
		{"a webhook without url or secret", []auditsink.SinkConfig{hook("x", "", "")}, []string{"sinks[0].webhook.url: required", "sinks[0].webhook.secret: required"}},
		{"a short secret", []auditsink.SinkConfig{hook("x", "https://x.example.com", "short")}, []string{"sinks[0].webhook.secret: too short"}},
		{"a syslog without address", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{})}, []string{"sinks[0].syslog.address: required"}},
		{"a syslog address without port", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{Address: "logs.example.com"})}, []string{"sinks[0].syslog.address: \"logs.example.com\" is not a host:port"}},
		{"a missing CA file", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{Address: "a:6514", CAFile: filepath.Join(t.TempDir(), "nope.pem")})}, []string{"sinks[0].syslog.ca_file: open"}},
		{"a CA file that is not PEM", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{Address: "a:6514", CAFile: p.keyFile + "x"})}, []string{"sinks[0].syslog.ca_file:"}},
		{"a certificate without its key", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{Address: "a:6514", CertFile: p.certFile})}, []string{"sinks[0].syslog.cert_file: cert_file and key_file go together"}},
		{"a certificate with the wrong key", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{Address: "a:6514", CertFile: p.certFile, KeyFile: p.caFile})}, []string{"sinks[0].syslog.cert_file:"}},
		{"an app name with a space", []auditsink.SinkConfig{logs("x", auditsink.SyslogConfig{Address: "a:6514", AppName: "jit bot"})}, []string{"sinks[0].syslog.app_name:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, fe := range (auditsink.Config{Sinks: tt.sinks}).Validate() {
				got = append(got, fe.Path+": "+fe.Message)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d: %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}

func TestNewBuildsAStreamerPerSink(t *testing.T) {
	p := newPKI(t)
	b := flowstest.NewStore()
	ss, err := auditsink.New(&auditsink.Config{Sinks: []auditsink.SinkConfig{
		{Name: "siem", Webhook: &auditsink.WebhookConfig{URL: "https://siem.example.com/jitbot", Secret: secret}},
		{Name: "logs", Syslog: &auditsink.SyslogConfig{Address: "127.0.0.1:6514", CAFile: p.caFile}},
	}}, auditsink.Deps{StreamDeps: auditsink.StreamDeps{Log: b, Cursors: b}})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	if len(ss) != 2 || ss[0].Name() != "siem" || ss[1].Name() != "logs" || len(ss.Stats()) != 2 {
		t.Fatalf("streamers: %d", len(ss))
	}
	if _, err := auditsink.New(&auditsink.Config{Sinks: []auditsink.SinkConfig{{Name: "x"}}}, auditsink.Deps{StreamDeps: auditsink.StreamDeps{Log: b, Cursors: b}}); err == nil {
		t.Fatal("an invalid configuration built streamers")
	}
}
