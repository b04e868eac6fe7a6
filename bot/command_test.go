package bot

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/flows"
)

func TestParse(t *testing.T) {
	orders := flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"}
	tests := []struct {
		text string
		want Command
	}{
		{"", Command{Verb: VerbForm}},
		{"   \t ", Command{Verb: VerbForm}},
		{`request prod/Cluster0/sales/orders read 1h "INC-123"`,
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-123"}},
		{`request prod/Cluster0/sales/orders read 2h INC-123 debugging the nightly job`,
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: 2 * time.Hour, Reason: "INC-123 debugging the nightly job"}},
		{"REQUEST prod/Cluster0/sales readWrite 1h30m",
			Command{Verb: VerbRequest, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}, Roles: []string{"readWrite"}, Duration: 90 * time.Minute}},
		{"request prod/Cluster0/sales/orders read 1h “INC-123 smart quotes”",
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-123 smart quotes"}},
		{`request prod/Cluster0/sales/orders read 1h 'single'`,
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: time.Hour, Reason: "single"}},
		{`request prod/Cluster0/sales/orders read 1h "INC-1" and "INC-2" broke`,
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: time.Hour, Reason: `"INC-1" and "INC-2" broke`}},
		{"  request\tprod/Cluster0/sales/orders  read\n1d  ",
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: 24 * time.Hour}},
		{"list", Command{Verb: VerbList}},
		{"pending", Command{Verb: VerbPending}},
		{"help", Command{Verb: VerbHelp}},
		{"help me please", Command{Verb: VerbHelp}},
		{"?", Command{Verb: VerbHelp}},
		{"cancel abc23def45", Command{Verb: VerbCancel, RequestID: "abc23def45"}},
		{"rotate abc23def45", Command{Verb: VerbRotate, RequestID: "abc23def45"}},
		{"revoke abc23def45", Command{Verb: VerbRevoke, RequestID: "abc23def45"}},
		{`revoke abc23def45 "done early"`, Command{Verb: VerbRevoke, RequestID: "abc23def45", Reason: "done early"}},
		{"revoke abc23def45 done early", Command{Verb: VerbRevoke, RequestID: "abc23def45", Reason: "done early"}},
		{"extend abc23def45 30m", Command{Verb: VerbExtend, RequestID: "abc23def45", Duration: 30 * time.Minute}},
		{"request prod/Cluster0/sales read,dbAdmin 1h",
			Command{Verb: VerbRequest, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}, Roles: []string{"read", "dbAdmin"}, Duration: time.Hour}},
		// An ARN is taken out wherever it was typed, for flows to refuse.
		{"request prod/Cluster0/sales/orders read 1h arn:aws:iam::123456789012:role/admin INC-1",
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-1", Identity: "arn:aws:iam::123456789012:role/admin"}},
		{"request prod/Cluster0/sales/orders ARN:aws:iam::123456789012:role/admin read 1h",
			Command{Verb: VerbRequest, Resource: orders, Roles: []string{"read"}, Duration: time.Hour, Identity: "ARN:aws:iam::123456789012:role/admin"}},
		{`network prod 203.0.113.7 2h "INC-123 from home"`,
			Command{Verb: VerbNetwork, Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod", Address: "203.0.113.7/32"}, Duration: 2 * time.Hour, Reason: "INC-123 from home"}},
		{"network prod/198.51.100.0/28 30m",
			Command{Verb: VerbNetwork, Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod", Address: "198.51.100.0/28"}, Duration: 30 * time.Minute}},
		{"NETWORK prod 2001:DB8::1 1h",
			Command{Verb: VerbNetwork, Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod", Address: "2001:db8::1/128"}, Duration: time.Hour}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.text)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		text string
		want string // a part of the message
	}{
		{"reqest prod/Cluster0/sales read 1h", `unknown subcommand "reqest"; did you mean request?`},
		{"lst", `unknown subcommand "lst"; did you mean list?`},
		{"pend", `did you mean pending?`},
		{"approve abc", `unknown subcommand "approve"; use request, network, list, pending, cancel, revoke, extend, rotate, again, breakglass, guest-link or help`},
		{"request", "request needs a resource, a role and a duration: request <integration/cluster/database[/collection]> <role> <duration> [from <address>] [for <guest email>] [at <start> [zone]] [reason]"},
		{"request prod/Cluster0/sales read", "request needs a resource, a role and a duration"},
		{"request prod/Cluster0 read 1h", `resource "prod/Cluster0": want integration/cluster/database`},
		{"request prod/Cluster0/admin read 1h", `database "admin" is a system database`},
		{"request prod/Cluster0/sales atlasAdmin 1h", `role "atlasAdmin" applies to every database`},
		{"request prod/Cluster0/sales read,atlasAdmin 1h", `role "atlasAdmin" applies to every database`},
		{"request prod/Cluster0/sales , 1h", `role ",": role names are letters`},
		{"request prod/Cluster0/sales read 1w", `unknown unit "w"`},
		{"request prod/Cluster0/sales read 90s", `unknown unit "s"`},
		{"request prod/Cluster0/sales read soon", `duration "soon": use a number and a unit`},
		{`request prod/Cluster0/sales read 1h "INC-123`, "the reason opens a quote (\") but never closes it"},
		{"list everything", `list takes no arguments; unexpected "everything"`},
		{"cancel", "cancel needs a request id: cancel <id>"},
		{"cancel abc def", `cancel takes only a request id; unexpected "def"`},
		{"cancel a:b", `"a:b" is not a request id`},
		{"extend abc", "extend needs a duration after the request id: extend abc <duration>"},
		{"extend abc 1h more", `extend takes a request id and a duration; unexpected "more"`},
		{"extend", "extend needs a request id"},
		{"revoke", "revoke needs a request id: revoke <id> [reason]"},
		{"rotate", "rotate needs a request id"},
		{strings.Repeat("x", MaxCommandLength+1), "keep it under 2000"},
		{"request prod/" + strings.Repeat("c", 500) + "/sales read 1h", "characters long; at most 450"},
		{"request prod/Cluster0/sales " + strings.Repeat("r", 65) + " 1h", "the role \"rrrrrrrr"},
		{"extend abc " + strings.Repeat("1", 40) + "h", "the duration \"1111"},
		{"list \xff", "not valid UTF-8"},
		{"network", "network needs an integration, an address and a duration: network <integration> <address> <duration> [reason]"},
		{"network prod 203.0.113.7", "network needs an integration, an address and a duration"},
		{"network prod 0.0.0.0/0 1h", "every address on the internet"},
		{"network prod 203.0.113.7/24 1h", "has bits set past its /24"},
		{"network prod 203.0.113.300 1h", "is not an IP address or a CIDR range"},
		{"network prod 203.0.113.7 soon", `duration "soon"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.text)
		if err == nil {
			t.Errorf("Parse(%q): want an error containing %q", tt.text, tt.want)
			continue
		}
		if flows.ErrorCode(err) != flows.EINVALID {
			t.Errorf("Parse(%q): code %s, want invalid", tt.text, flows.ErrorCode(err))
		}
		if msg := flows.ErrorMessage(err); !strings.Contains(msg, tt.want) {
			t.Errorf("Parse(%q):\n got %q\nwant it to contain %q", tt.text, msg, tt.want)
		}
	}
}

func TestUsageNamesEverySubcommand(t *testing.T) {
	u := Usage()
	for _, v := range verbs() {
		if !strings.Contains(u, string(v)) {
			t.Errorf("usage does not mention %s", v)
		}
	}
}

// FuzzParse proves that no input makes Parse panic, and that every failure
// is an EINVALID error with a readable, bounded message. Its seed corpus runs
// as a normal test.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "help", "list", "pending", "request prod/Cluster0/sales/orders read 1h \"INC-123\"",
		"request a/b/c d 1d2h3m reason", "request prod/Cluster0/sales read 10000d10000d10000d",
		"extend abc 1h", "revoke abc 'why'", "cancel x", "rotate y", "request \"", "“", "revoke a “b",
		"request ////// read 1h", "request a/b/c/d/e r 1h", "reqest", "EXTEND A 0m", "extend a -1h",
		"request prod/Cluster0/sales read 99999999999999999999h", "\x00", "revoke abc \"\"",
		"request prod/Cluster0/sales read 1h from 203.0.113.7 x", "request prod/Cluster0/sales read 1h from", "request a/b/c r 1h FROM ::/0",
		"request service-account acme GROUP_READ_ONLY 1h from 2001:db8::1", "request api-key",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := Parse(text)
		if err != nil {
			if flows.ErrorCode(err) != flows.EINVALID {
				t.Fatalf("Parse(%q): code %s, want invalid: %v", text, flows.ErrorCode(err), err)
			}
			msg := flows.ErrorMessage(err)
			if msg == "" || !utf8.ValidString(msg) || len(msg) > 600 {
				t.Fatalf("Parse(%q): unclear message %q", text, msg)
			}
			return
		}
		switch cmd.Verb {
		case VerbForm, VerbList, VerbPending, VerbHelp:
		case VerbRequest:
			if cmd.Resource.Address != "" {
				if p, err := flows.ParseAddress(cmd.Resource.Address); err != nil || p.String() != cmd.Resource.Address {
					t.Fatalf("Parse(%q) accepted an invalid address: %+v", text, cmd)
				}
			}
			if cmd.Kind != "" { // targets and roles of other kinds are checked by their own rules (TestParseFrom)
				break
			}
			if cmd.Resource.Validate() != nil || len(cmd.Roles) == 0 || slices.ContainsFunc(cmd.Roles, func(r string) bool { return flows.ValidateRole(r) != nil }) || cmd.Duration <= 0 {
				t.Fatalf("Parse(%q) accepted an invalid request: %+v", text, cmd)
			}
		case VerbExtend:
			if cmd.Duration <= 0 || !ValidRequestID(string(cmd.RequestID)) {
				t.Fatalf("Parse(%q) accepted an invalid extend: %+v", text, cmd)
			}
		case VerbCancel, VerbRevoke, VerbRotate:
			if !ValidRequestID(string(cmd.RequestID)) {
				t.Fatalf("Parse(%q) accepted an invalid id: %+v", text, cmd)
			}
		default:
			t.Fatalf("Parse(%q) returned verb %q", text, cmd.Verb)
		}
	})
}
