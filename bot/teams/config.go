package teams

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// App registration types of the Azure bot (Config.AppType).
const (
	// AppTypeSingleTenant: the bot's app registration lives in TenantID, which issues its token.
	AppTypeSingleTenant = "single_tenant"
	// AppTypeMultiTenant: a multi-tenant app registration, whose token comes from the
	// botframework.com tenant. Only the token changes: activities are still accepted from
	// TenantID alone.
	AppTypeMultiTenant = "multi_tenant"
)

// Config configures the Teams adapter. AppID, AppPassword and TenantID are required. Its yaml
// keys are those of the teams section of jitbot.yaml, read by cmd/jitbot/config: the loader
// expands ${ENV}, reads each secret from its *_file twin, trims the fields tagged
// check:"trim", refuses placeholders in secrets and in the fields tagged check:"id", and
// checks those tagged check:"endpoint"; Validate says what else is wrong.
// The fields without a key are the wiring's and the tests'.
type Config struct {
	// AppID and AppPassword are the Azure bot's Microsoft App ID and client secret.
	AppID           string `yaml:"app_id" check:"trim,id"`
	AppPassword     string `yaml:"app_password"`
	AppPasswordFile string `yaml:"app_password_file"`
	// TenantID is the Entra tenant (directory) ID of the organisation jitbot serves. Required:
	// jitbot knows people by email, and any tenant's admins can give their users any email, so
	// activities from another tenant are ignored and a member lookup answering for another
	// tenant is refused. It is also the token authority of a single-tenant bot (AppType).
	TenantID string `yaml:"tenant_id" check:"trim,id"`
	// AppType is the app registration type of the Azure bot, which only decides where the bot
	// token comes from: AppTypeSingleTenant (the default, "") from
	// https://login.microsoftonline.com/{TenantID}, AppTypeMultiTenant from the botframework.com
	// tenant. TokenURL, when set, overrides both. Who may talk to the bot is TenantID's choice
	// either way.
	AppType string `yaml:"app_type"`
	// OpenIDMetadataURL and TokenURL override Microsoft's endpoints (sovereign clouds, tests).
	OpenIDMetadataURL string `yaml:"openid_metadata_url" check:"endpoint"`
	TokenURL          string `yaml:"token_url" check:"endpoint"`
	// ServiceHosts are the only hosts the bot token is sent to (the serviceUrl of activities
	// and of stored conversations); "*.example.com" matches subdomains. Default
	// DefaultServiceHosts(): Microsoft's public and US government Teams connector hosts. Tests
	// set their fake's host.
	ServiceHosts []string `yaml:"service_hosts"`
	// Issuers are the accepted token issuers (default DefaultIssuer); for tests.
	Issuers []string `yaml:"-"`
	// Runtime: the HTTP client fetches keys and tokens and calls the connector; the clock ages
	// the adapter's caches only (token lifetimes and pacing follow the real time Microsoft
	// keeps, whatever it says); WorkTimeout is DefaultWorkTimeout by default.
	bot.Runtime `yaml:"-"`
}

// Validate reports what is wrong with the teams section, each problem with its path in the
// section. A secret counts as given when its *_file twin is set: the loader reads the file
// into it and reports a file it cannot read.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	if c.AppPassword == "" && c.AppPasswordFile == "" {
		errs.Add("app_password", "required")
	}
	// Blank is as good as absent (the loader and New trim it).
	if strings.TrimSpace(c.AppID) == "" {
		errs.Add("app_id", "required: the Microsoft App ID of the Azure bot")
	}
	if strings.TrimSpace(c.TenantID) == "" {
		errs.Add("tenant_id", "required: the Directory (tenant) ID of your Entra tenant. jitbot knows people by email, "+
			"which any tenant's admins can set on their users, so it only trusts people of this tenant "+
			"(a multi-tenant app registration also needs it: set app_type: multi_tenant)")
	}
	switch c.AppType {
	case "", AppTypeSingleTenant, AppTypeMultiTenant:
	default:
		errs.Add("app_type", "%q: use %s (the default) or %s, as the Azure bot's app registration says", c.AppType, AppTypeSingleTenant, AppTypeMultiTenant)
	}
	// Written but empty is a mistake: leaving the key out is how to get the default hosts.
	if c.ServiceHosts != nil && len(c.ServiceHosts) == 0 {
		errs.Add("service_hosts", "empty: leave it out for Microsoft's Teams service hosts, or list the hosts the bot token may go to")
	}
	for i, h := range c.ServiceHosts {
		if !validServiceHost(h) {
			errs.Add(fmt.Sprintf("service_hosts[%d]", i), `%q: want a host name, an IP address or "*.domain", without scheme, port or path`, h)
		}
	}
	return errs
}

// serviceHostName is a host name of service_hosts, or "*." and a domain of two labels or
// more.
var serviceHostName = regexp.MustCompile(`^(?:\*\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)$`)

// validServiceHost reports whether h is a valid service_hosts entry: a host name, an IP
// address (tests' loopback fakes), or a "*.domain" wildcard. It is stricter than what
// NewConnector accepts, which only refuses what could never match a host.
func validServiceHost(h string) bool { return net.ParseIP(h) != nil || serviceHostName.MatchString(h) }

// secretsRead is the configuration as New sees it: the *_file key is the configuration file's,
// which config.Load reads into the secret (or refuses), so New judges the secret itself.
func (c Config) secretsRead() Config {
	c.AppPasswordFile = ""
	return c
}

// configError is Validate's problems as New's error, each line saying where it comes from; nil
// when there are none.
func configError(problems []flows.FieldError) error {
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = fmt.Errorf("teams: %w", p)
	}
	return errors.Join(errs...)
}
