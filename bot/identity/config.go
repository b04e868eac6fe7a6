package identity

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Config is the identity section of jitbot.yaml.
//
//	identity:
//	  oidc:
//	    issuer: https://login.microsoftonline.com/<tenant>/v2.0
//	    client_id: 00000000-0000-0000-0000-000000000000
//	    client_secret_file: /run/secrets/oidc_client_secret
//	    redirect_url: https://jitbot.example.com/id/callback
//	    reverify_days: 30
type Config struct {
	OIDC *OIDCConfig `yaml:"oidc"`
	// SMTP, optional, is the mail relay guest links are sent through
	// (guest.go); without it they are shown to the sponsor to pass on.
	SMTP *SMTPConfig `yaml:"smtp"`
}

// OIDCConfig is the OpenID provider jitbot signs people in with.
type OIDCConfig struct {
	Issuer           string `yaml:"issuer" check:"trim"`
	ClientID         string `yaml:"client_id" check:"trim,id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is jitbot's callback as registered at the provider: its
	// public address followed by /id/callback.
	RedirectURL string `yaml:"redirect_url" check:"trim"`
	// ReverifyDays is how often a binding must be proven again (30).
	ReverifyDays int `yaml:"reverify_days"`
}

// DefaultReverifyDays is how often a binding is re-verified unless told.
const DefaultReverifyDays = 30

// CallbackPath is where the provider sends people back.
const CallbackPath = "/id/callback"

// Validate reports what is wrong with the identity section. The loader has
// read client_secret_file into ClientSecret.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	o := c.OIDC
	if o == nil {
		errs.Add("oidc", "required: the identity section names the OpenID provider people sign in with (issuer, client_id, client_secret, redirect_url)")
		return errs
	}
	if err := checkURL(o.Issuer); err != nil {
		errs.Add("oidc.issuer", "%v", err)
	}
	if o.ClientID == "" {
		errs.Add("oidc.client_id", "required: the client id jitbot is registered under at the provider")
	}
	if o.ClientSecret == "" {
		errs.Add("oidc.client_secret", "required (or client_secret_file): jitbot is a confidential client, and the secret also keys its one-time links")
	} else if len(o.ClientSecret) < 16 {
		errs.Add("oidc.client_secret", "too short (%d characters): use the secret the provider generated", len(o.ClientSecret))
	}
	if err := checkURL(o.RedirectURL); err != nil {
		errs.Add("oidc.redirect_url", "%v", err)
	} else if u, _ := url.Parse(o.RedirectURL); u.Path != CallbackPath {
		errs.Add("oidc.redirect_url", "%q: the path must be %s (jitbot serves its sign-in pages under /id/ on its public listener)", o.RedirectURL, CallbackPath)
	}
	if o.ReverifyDays < 0 || o.ReverifyDays > 365 {
		errs.Add("oidc.reverify_days", "%d: give a number of days from 1 to 365 (default %d)", o.ReverifyDays, DefaultReverifyDays)
	}
	if c.SMTP != nil {
		c.SMTP.validate(&errs)
	}
	return errs
}

// checkURL accepts an https URL, or http on a loopback address (a
// provider or a jitbot on the same machine, tests: browsers treat loopback
// as secure, so its __Host- cookies still work there).
func checkURL(s string) error {
	if s == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without user, query or fragment", s)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: use https", s)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reverifyDays is ReverifyDays with its default.
func (o *OIDCConfig) reverifyDays() int {
	if o.ReverifyDays == 0 {
		return DefaultReverifyDays
	}
	return o.ReverifyDays
}
