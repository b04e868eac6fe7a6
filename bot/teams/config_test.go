package teams

import (
	"slices"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestConfigValidate(t *testing.T) {
	fe := func(path, msg string) flows.FieldError { return flows.FieldError{Path: path, Message: msg} }
	const tenantRequired = "required: the Directory (tenant) ID of your Entra tenant. jitbot knows people by email, " +
		"which any tenant's admins can set on their users, so it only trusts people of this tenant " +
		"(a multi-tenant app registration also needs it: set app_type: multi_tenant)"
	const notAHost = `want a host name, an IP address or "*.domain", without scheme, port or path`
	ok := Config{AppID: "app", AppPassword: "pw", TenantID: "t"}
	with := func(edit func(c *Config)) Config {
		c := ok
		edit(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []flows.FieldError
	}{
		{"complete", ok, nil},
		{"password from a file", with(func(c *Config) { c.AppPassword, c.AppPasswordFile = "", "/run/pw" }), nil},
		{"multi-tenant", with(func(c *Config) { c.AppType = AppTypeMultiTenant }), nil},
		{"hosts", with(func(c *Config) {
			c.ServiceHosts = []string{"127.0.0.1", "::1", "*.botframework.com", "smba.trafficmanager.net"}
		}), nil},
		{"empty", Config{}, []flows.FieldError{
			fe("app_password", "required"), fe("app_id", "required: the Microsoft App ID of the Azure bot"), fe("tenant_id", tenantRequired),
		}},
		{"blank tenant", with(func(c *Config) { c.TenantID = " \n" }), []flows.FieldError{fe("tenant_id", tenantRequired)}},
		// New refuses a blank app id: so must the file's check.
		{"blank app id", with(func(c *Config) { c.AppID = " " }), []flows.FieldError{fe("app_id", "required: the Microsoft App ID of the Azure bot")}},
		{"app type", with(func(c *Config) { c.AppType = "any" }), []flows.FieldError{
			fe("app_type", `"any": use single_tenant (the default) or multi_tenant, as the Azure bot's app registration says`),
		}},
		{"no hosts", with(func(c *Config) { c.ServiceHosts = []string{} }), []flows.FieldError{
			fe("service_hosts", "empty: leave it out for Microsoft's Teams service hosts, or list the hosts the bot token may go to"),
		}},
		{"bad hosts", with(func(c *Config) {
			c.ServiceHosts = []string{"ok.example.com", "https://smba.trafficmanager.net/", "127.0.0.1:8080", "*.com", "", "a..b", "[::1]"}
		}), []flows.FieldError{
			fe("service_hosts[1]", `"https://smba.trafficmanager.net/": `+notAHost), fe("service_hosts[2]", `"127.0.0.1:8080": `+notAHost),
			fe("service_hosts[3]", `"*.com": `+notAHost), fe("service_hosts[4]", `"": `+notAHost),
			fe("service_hosts[5]", `"a..b": `+notAHost), fe("service_hosts[6]", `"[::1]": `+notAHost),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Validate(); !slices.Equal(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
