package atlas

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// TagConnection is the cluster tag that says how people reach a cluster, and
// so which of its connection strings the credentials message carries:
// standard (public), private (network peering) or private-endpoint, with
// private-endpoint:<endpoint id> to pick one of several endpoints (without
// an id, the first Atlas lists). An untagged cluster takes its
// integration's Connection.
const TagConnection = "jitbot-connection"

// The kinds of connectivity a cluster tag or Integration.Connection names.
const (
	ConnectStandard        = "standard"
	ConnectPrivate         = "private"
	ConnectPrivateEndpoint = "private-endpoint"
)

// connectivity is a parsed TagConnection value: how, and through which
// private endpoint when several serve the cluster.
type connectivity struct {
	mode     string
	endpoint string // a private endpoint's id; "" is the first
}

// parseConnectivity reads standard, private, private-endpoint or
// private-endpoint:<endpoint id>.
func parseConnectivity(s string) (connectivity, error) {
	mode, endpoint, withID := strings.Cut(strings.TrimSpace(s), ":")
	switch {
	case mode == ConnectStandard && !withID, mode == ConnectPrivate && !withID:
		return connectivity{mode: mode}, nil
	case mode == ConnectPrivateEndpoint && !withID:
		return connectivity{mode: mode}, nil
	case mode == ConnectPrivateEndpoint && strings.TrimSpace(endpoint) != "":
		return connectivity{mode: mode, endpoint: strings.TrimSpace(endpoint)}, nil
	case mode == ConnectPrivateEndpoint:
		return connectivity{}, fmt.Errorf("%q names no endpoint after private-endpoint: (write private-endpoint alone for the first one)", s)
	}
	return connectivity{}, fmt.Errorf("%q is not a connectivity: want standard, private (network peering), private-endpoint or private-endpoint:<endpoint id>", s)
}

func (c connectivity) String() string {
	if c.endpoint != "" {
		return c.mode + ":" + c.endpoint
	}
	return c.mode
}

// clusterConn is what the catalog keeps of a cluster to choose its
// connection string: each kind of string Atlas lists (the mongodb+srv://
// form where there is one) and the cluster's TagConnection tag.
type clusterConn struct {
	standard  string
	private   string         // network peering
	endpoints []endpointConn // private endpoints, in Atlas's order
	tag       string         // the TagConnection value; "" when untagged
}

// endpointConn is one private-endpoint connection string and the ids of the
// endpoints it goes through.
type endpointConn struct {
	ids []string
	srv string
}

// connOf reads a cluster's connection strings and its connectivity tag.
func connOf(cs admin.ClusterConnectionStrings, tags []admin.ResourceTag) clusterConn {
	out := clusterConn{standard: cmp.Or(cs.GetStandardSrv(), cs.GetStandard()), private: cmp.Or(cs.GetPrivateSrv(), cs.GetPrivate())}
	for _, pe := range cs.GetPrivateEndpoint() {
		ec := endpointConn{srv: cmp.Or(pe.GetSrvConnectionString(), pe.GetConnectionString())}
		for _, e := range pe.GetEndpoints() {
			ec.ids = append(ec.ids, e.GetEndpointId())
		}
		out.endpoints = append(out.endpoints, ec)
	}
	for _, t := range tags {
		if strings.EqualFold(t.Key, TagConnection) {
			out.tag = t.Value
		}
	}
	return out
}

// connChoice is the connection string a requester gets, and a note for
// them when it is not the one the cluster's connectivity asks for.
type connChoice struct {
	conn string
	note string
}

// choose picks the connection string that fits the cluster: its tag's
// connectivity, else def (the integration's). When Atlas lists no string of
// that kind, or the tag is wrong, the requester gets no string rather than
// one that would not work from where they are, and a note saying why and
// whom to ask.
func (c clusterConn) choose(cluster, def string) connChoice {
	want, source := def, "the integration's default connection"
	if c.tag != "" {
		want, source = c.tag, "its tag "+TagConnection+"="+c.tag
	}
	if want == "" {
		want = ConnectStandard
	}
	how, err := parseConnectivity(want)
	if err != nil {
		return connChoice{note: fmt.Sprintf("No connection string: cluster %s has %s, which jitbot cannot read (%v). Ask the cluster's owners to fix the tag; until then, use the connection string your team uses for %s.",
			cluster, source, err, cluster)}
	}
	switch how.mode {
	case ConnectPrivate:
		if c.private == "" {
			return connChoice{note: fmt.Sprintf("No connection string: cluster %s is reached through network peering (%s), but Atlas lists no peering connection string for it "+
				"(the peering connection may not be set up yet, or on AWS custom DNS is off). Ask the cluster's owners how to connect.", cluster, source)}
		}
		return connChoice{conn: c.private}
	case ConnectPrivateEndpoint:
		return c.endpoint(cluster, how, source)
	}
	if c.standard == "" {
		return connChoice{note: fmt.Sprintf("No connection string: Atlas lists no public connection string for cluster %s.", cluster)}
	}
	return connChoice{conn: c.standard}
}

func (c clusterConn) endpoint(cluster string, how connectivity, source string) connChoice {
	if len(c.endpoints) == 0 {
		return connChoice{note: fmt.Sprintf("No connection string: cluster %s is reached through a private endpoint (%s), but Atlas lists no private-endpoint connection string for it "+
			"(Atlas lists one only once an endpoint serves every region of the cluster). Ask the cluster's owners how to connect.", cluster, source)}
	}
	if how.endpoint == "" {
		return connChoice{conn: c.endpoints[0].srv}
	}
	var known []string
	for _, e := range c.endpoints {
		if slices.Contains(e.ids, how.endpoint) {
			return connChoice{conn: e.srv}
		}
		known = append(known, e.ids...)
	}
	return connChoice{note: fmt.Sprintf("No connection string: cluster %s is reached through private endpoint %s (%s), which Atlas does not list for it (it lists %s). "+
		"Ask the cluster's owners to fix the tag.", cluster, how.endpoint, source, strings.Join(known, ", "))}
}

// withNote adds a connection note to the instructions of credentials.
func withNote(c flows.Credentials, note string) flows.Credentials {
	switch {
	case note == "":
	case c.Instructions == "":
		c.Instructions = note
	default:
		c.Instructions = note + "\n\n" + c.Instructions
	}
	return c
}
