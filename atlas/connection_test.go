package atlas

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
)

const (
	peeringSrv = "mongodb+srv://net-pri.abc12.mongodb.net"
	endpointA  = "mongodb+srv://net-pl-0.abc12.mongodb.net"
	endpointB  = "mongodb+srv://net-pl-1.abc12.mongodb.net"
)

// privateCluster is a cluster reachable by every kind of connectivity: a
// peering connection and two private endpoints (the second through two
// endpoints), tagged with connection (untagged when empty).
func privateCluster(name, connection string) atlastest.Cluster {
	c := atlastest.Cluster{
		Name: name, PrivateSrv: peeringSrv, Private: "mongodb://net-shard-00-00-pri.abc12.mongodb.net:27017/?ssl=true",
		PrivateEndpoints: []atlastest.PrivateEndpoint{
			{SrvConnectionString: endpointA, ConnectionString: "mongodb://pl-0-us-east-1.abc12.mongodb.net:1024/?ssl=true", EndpointIDs: []string{"vpce-0aaa"}},
			{SrvConnectionString: endpointB, EndpointIDs: []string{"vpce-0bbb", "vpce-0ccc"}},
		},
	}
	if connection != "" {
		c.Tags = []atlastest.Tag{{Key: TagConnection, Value: connection}}
	}
	return c
}

// TestConnectionStringByTag hands out the connection string the cluster's
// jitbot-connection tag asks for, read through getCluster and through the
// catalog's cluster list alike, and never a string of another kind: when
// none fits, the field is empty and the instructions say why.
func TestConnectionStringByTag(t *testing.T) {
	standard := "mongodb+srv://%s.jitbot.mongodb.net"
	cases := []struct {
		name, tag string
		bare      bool // the cluster has no private connection strings at all
		want      string
		note      []string // what the instructions must say; none when want is set
	}{
		{name: "Untagged", want: standard},
		{name: "Standard", tag: "standard", want: standard},
		{name: "Peering", tag: "private", want: peeringSrv},
		{name: "Endpoint", tag: "private-endpoint", want: endpointA},
		{name: "EndpointByID", tag: "private-endpoint:vpce-0ccc", want: endpointB},
		{name: "UnknownEndpoint", tag: "private-endpoint:vpce-0zzz",
			note: []string{"No connection string", "private endpoint vpce-0zzz", "jitbot-connection=private-endpoint:vpce-0zzz", "does not list", "vpce-0aaa, vpce-0bbb, vpce-0ccc", "fix the tag"}},
		{name: "NoPeering", tag: "private", bare: true,
			note: []string{"No connection string", "network peering", "lists no peering connection string", "Ask the cluster's owners"}},
		{name: "NoEndpoint", tag: "private-endpoint", bare: true,
			note: []string{"No connection string", "private endpoint", "lists no private-endpoint connection string", "Ask the cluster's owners"}},
		{name: "BadTag", tag: "vpn",
			note: []string{"No connection string", `"vpn" is not a connectivity`, "fix the tag"}},
	}
	for _, via := range []string{"getCluster", "catalog"} {
		t.Run(via, func(t *testing.T) {
			e := newEnv(t)
			for _, tc := range cases {
				c := privateCluster("Net"+tc.name, tc.tag)
				if tc.bare {
					c = atlastest.Cluster{Name: c.Name, Tags: c.Tags}
				}
				e.srv.AddCluster(projectID, c)
			}
			if via == "catalog" {
				if _, err := e.prov.Catalog().Clusters(e.ctx, "prod"); err != nil {
					t.Fatal(err)
				}
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					g := e.grant("c7m2x9q4t" + string(rune('a'+i)))
					g.Resource.Cluster = "Net" + tc.name
					creds := e.create(g)
					got := field(creds, flows.FieldConnectionString)
					want := strings.Replace(tc.want, "%s", strings.ToLower(g.Resource.Cluster), 1)
					if got != want {
						t.Fatalf("connection string %q, want %q (instructions %q)", got, want, creds.Instructions)
					}
					if len(tc.note) == 0 && creds.Instructions != "" {
						t.Fatalf("instructions %q with a fitting connection string", creds.Instructions)
					}
					for _, s := range tc.note {
						if !strings.Contains(creds.Instructions, s) {
							t.Errorf("instructions %q do not say %q", creds.Instructions, s)
						}
					}
					if len(tc.note) > 0 && (strings.Contains(creds.Instructions, "mongodb+srv://") || strings.Contains(creds.Instructions, "mongodb://")) {
						t.Errorf("instructions %q carry a connection string of another kind", creds.Instructions)
					}
				})
			}
			calls := 0
			if via == "getCluster" {
				calls = len(cases)
			}
			e.wantCalls(map[string]int{"getCluster": calls})
			if !strings.Contains(e.logs.String(), "no connection string fits") {
				t.Error("a cluster whose connectivity has no string is not logged for the admins")
			}
			e.noViolations()
		})
	}
}

// TestConnectionDefault takes the integration's connection for untagged
// clusters; a cluster's tag still wins.
func TestConnectionDefault(t *testing.T) {
	e := newEnv(t, withIntegration(func(in *Integration) { in.Connection = "private-endpoint:vpce-0bbb" }))
	e.srv.AddCluster(projectID, privateCluster("NetUntagged", ""))
	e.srv.AddCluster(projectID, privateCluster("NetTagged", "standard"))
	g := e.grant("d7m2x9q4ta")
	g.Resource.Cluster = "NetUntagged"
	if got := field(e.create(g), flows.FieldConnectionString); got != endpointB {
		t.Fatalf("untagged: %q, want the default's endpoint %q", got, endpointB)
	}
	g = e.grant("d7m2x9q4tb")
	g.Resource.Cluster = "NetTagged"
	if got := field(e.create(g), flows.FieldConnectionString); got != "mongodb+srv://nettagged.jitbot.mongodb.net" {
		t.Fatalf("tagged standard: %q", got)
	}
	// The default applies where the cluster has no such string: no string, a note.
	g = e.grant("d7m2x9q4tc")
	creds := e.create(g) // Cluster0: no private endpoint
	if got := field(creds, flows.FieldConnectionString); got != "" || !strings.Contains(creds.Instructions, "the integration's default connection") {
		t.Fatalf("Cluster0 under a private-endpoint default: %q, %q", got, creds.Instructions)
	}
	e.noViolations()
}

// TestConnectionNoteComesBeforeTheKindsInstructions keeps a passwordless
// user's exact command (with a placeholder for the missing string) after
// the note.
func TestConnectionNoteWithPasswordlessUser(t *testing.T) {
	e := newEnv(t)
	e.srv.AddCluster(projectID, atlastest.Cluster{Name: "NetBare", Tags: []atlastest.Tag{{Key: TagConnection, Value: "private"}}})
	g := e.grant("e7m2x9q4ta")
	g.Resource.Cluster = "NetBare"
	g.Auth, g.Principal = flows.AuthAWSIAM, "arn:aws:iam::123456789012:role/dev"
	creds := e.create(g)
	i := strings.Index(creds.Instructions, "lists no peering connection string")
	j := strings.Index(creds.Instructions, "There is no password")
	if i < 0 || j < i {
		t.Fatalf("instructions %q: want the note, then the kind's own", creds.Instructions)
	}
	if cmd := field(creds, flows.FieldCommand); !strings.Contains(cmd, "<the cluster's connection string>") {
		t.Fatalf("command %q", cmd)
	}
}

func TestParseConnectivity(t *testing.T) {
	for in, want := range map[string]string{
		"standard": "standard", "private": "private", "private-endpoint": "private-endpoint",
		"private-endpoint:vpce-0abc": "private-endpoint:vpce-0abc", " private ": "private",
	} {
		got, err := parseConnectivity(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %v, %v; want %s", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                  "is not a connectivity",
		"public":            "want standard, private (network peering), private-endpoint or private-endpoint:<endpoint id>",
		"private:x":         "is not a connectivity",
		"private-endpoint:": "names no endpoint",
		"Standard":          "is not a connectivity",
	} {
		if _, err := parseConnectivity(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want it to say %q", in, err, msg)
		}
	}
}

func TestConnectionConfigValidated(t *testing.T) {
	in := Integration{Name: "prod", ProjectID: projectID, Connection: "peering",
		API: API{ClientID: atlastest.DefaultClientID, ClientSecret: atlastest.DefaultClientSecret}}
	errs := in.Validate()
	if len(errs) != 1 || errs[0].Path != "connection" || !strings.Contains(errs[0].Message, `"peering" is not a connectivity`) {
		t.Fatalf("Validate: %+v", errs)
	}
	_, err := New(t.Context(), Config{Integrations: []Integration{in}})
	if err == nil || !strings.Contains(err.Error(), `integration "prod": connection: "peering" is not a connectivity`) {
		t.Fatalf("New: %v", err)
	}
	in.Connection = "private-endpoint:vpce-0abc"
	if errs := in.Validate(); len(errs) != 0 {
		t.Fatalf("Validate: %+v", errs)
	}
}

// TestConnectionInAnOrganization reads the connection strings and tags as
// discovery lists them, project by project, with the integration's default
// for untagged clusters: no getCluster per grant.
func TestConnectionInAnOrganization(t *testing.T) {
	e := newOrgEnv(t, func(srv *atlastest.Server) {
		acme(srv)
		srv.AddCluster(paymentsID, privateCluster("Vault", "private-endpoint:vpce-0aaa"))
		srv.AddCluster(searchID, privateCluster("Logs", ""))
	}, withIntegration(func(in *Integration) { in.Connection = "private" }))
	cs, err := e.prov.Catalog().Clusters(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	id := map[string]string{}
	for _, c := range cs {
		id[c.ProjectID+"/"+c.Name] = c.ID
	}
	for i, tc := range []struct{ project, projectID, cluster, want string }{
		{"payments-prod", paymentsID, "Vault", endpointA},
		{"search-dev", searchID, "Logs", peeringSrv},
	} {
		g := e.grant("f7m2x9q4t" + string(rune('a'+i)))
		g.Integration = "acme"
		g.Resource = flows.Resource{Integration: "acme", Project: tc.project, ProjectID: tc.projectID,
			Cluster: tc.cluster, ClusterID: id[tc.projectID+"/"+tc.cluster], Database: "sales"}
		creds := e.create(g)
		if got := field(creds, flows.FieldConnectionString); got != tc.want || creds.Instructions != "" {
			t.Fatalf("%s/%s: %q (instructions %q), want %q", tc.project, tc.cluster, got, creds.Instructions, tc.want)
		}
	}
	e.wantCalls(map[string]int{"getCluster": 0})
	e.noViolations()
}
