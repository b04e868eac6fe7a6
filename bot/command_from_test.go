package bot

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestParseFrom: "from <address>" after the duration binds a grant to the
// address it is used from; its form is checked here, whether a flow allows
// it by flows (TestFromIsJudgedByTheFlow).
func TestParseFrom(t *testing.T) {
	sales := flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}
	with := func(r flows.Resource, addr string) flows.Resource { r.Address = addr; return r }
	project := flows.Resource{Integration: "acme", Project: "payments-prod"}
	for text, want := range map[string]Command{
		`request prod/Cluster0/sales read 1h from 203.0.113.7 "INC-123 from home"`: {Verb: VerbRequest, Resource: with(sales, "203.0.113.7/32"),
			Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-123 from home"},
		"request prod/Cluster0/sales read 1h FROM 198.51.100.0/28": {Verb: VerbRequest, Resource: with(sales, "198.51.100.0/28"),
			Roles: []string{"read"}, Duration: time.Hour},
		"request prod/Cluster0/sales read 1h from 2001:DB8::1 INC-1": {Verb: VerbRequest, Resource: with(sales, "2001:db8::1/128"),
			Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-1"},
		// A reason that mentions from later is a reason.
		"request prod/Cluster0/sales read 1h INC-1 from home": {Verb: VerbRequest, Resource: sales, Roles: []string{"read"}, Duration: time.Hour,
			Reason: "INC-1 from home"},
		`request prod/Cluster0/sales read 1h "from home"`: {Verb: VerbRequest, Resource: sales, Roles: []string{"read"}, Duration: time.Hour,
			Reason: "from home"},
		"request service-account acme/payments-prod GROUP_READ_ONLY 2h from 203.0.113.7 INC-1": {Verb: VerbRequest, Kind: flows.KindServiceAccount,
			Resource: with(project, "203.0.113.7/32"), Roles: []string{"GROUP_READ_ONLY"}, Duration: 2 * time.Hour, Reason: "INC-1"},
		"request Service_Account acme ORG_READ_ONLY 1h from 203.0.113.7": {Verb: VerbRequest, Kind: flows.KindServiceAccount,
			Resource: flows.Resource{Integration: "acme", Address: "203.0.113.7/32"}, Roles: []string{"ORG_READ_ONLY"}, Duration: time.Hour},
		"request api-key acme/payments-prod GROUP_READ_ONLY,GROUP_CLUSTER_MANAGER 1h from 203.0.113.0/28": {Verb: VerbRequest, Kind: flows.KindAPIKey,
			Resource: with(project, "203.0.113.0/28"), Roles: []string{"GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER"}, Duration: time.Hour},
		// Without from, flows says a programmatic credential needs one.
		"request service-account acme/payments-prod GROUP_READ_ONLY 2h": {Verb: VerbRequest, Kind: flows.KindServiceAccount,
			Resource: project, Roles: []string{"GROUP_READ_ONLY"}, Duration: 2 * time.Hour},
		// Atlas UI access takes no address: flows refuses it, naming the flow.
		"request acme/payments-prod GROUP_READ_ONLY 2h from 203.0.113.7": {Verb: VerbRequest, Kind: flows.KindAtlasUI,
			Resource: with(project, "203.0.113.7/32"), Roles: []string{"GROUP_READ_ONLY"}, Duration: 2 * time.Hour},
	} {
		got, err := Parse(text)
		if err != nil {
			t.Errorf("Parse(%q): %v", text, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", text, got, want)
		}
	}

	for text, refusal := range map[string]string{
		"request prod/Cluster0/sales read 1h from":                                   "from needs the address you connect from, one IP or a range: ... 1h from 203.0.113.7",
		"request prod/Cluster0/sales read 1h from 203.0.113.300":                     `"203.0.113.300" is not an IP address or a CIDR range`,
		"request prod/Cluster0/sales read 1h from home":                              "to begin a reason with the word from, quote the reason",
		"request prod/Cluster0/sales read 1h from 0.0.0.0/0":                         "0.0.0.0/0 is every address on the internet: jitbot never opens a project to all of it",
		"request prod/Cluster0/sales read 1h from ::/0 INC-1":                        "::/0 is every address on the internet",
		"request prod/Cluster0/sales read 1h from 203.0.113.7/24":                    "has bits set past its /24",
		"request service-account acme/payments-prod read 1h from 203.0.113.7":        `role "read": Atlas roles are written in capitals`,
		"request service-account acme/payments-prod GROUP_OWNER 1h from 203.0.113.7": "GROUP_OWNER is an owner role",
		"request api-key acme/payments-prod":                                         "request api-key needs a project (or the organization), roles, a duration and the address it is used from: request service-account|api-key",
	} {
		_, err := Parse(text)
		if flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err), refusal) {
			t.Errorf("Parse(%q):\n got %v\nwant %q", text, err, refusal)
		}
	}
	u := Usage()
	for _, want := range []string{`request prod/Cluster0/sales read 1h from 203.0.113.7 "INC-123"`, "request service-account|api-key", "request service-account acme/payments-prod GROUP_READ_ONLY 2h from 203.0.113.7 INC-1"} {
		if !strings.Contains(u, want) {
			t.Errorf("the usage lacks %q:\n%s", want, u)
		}
	}
}
