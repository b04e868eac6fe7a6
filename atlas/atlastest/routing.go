package atlastest

import (
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// routedOp is an operation the simulator implements, as the SDK's spec
// declares it (TestRoutingSpecAgreesWithTheSpec keeps the two in step).
type routedOp struct {
	id, method, path string
	status           int    // the success status
	mediaType        string // of the success response
	roles            []string
}

const (
	v20230101 = "application/vnd.atlas.2023-01-01+json"
	v20240805 = "application/vnd.atlas.2024-08-05+json"
	v20241113 = "application/vnd.atlas.2024-11-13+json"
	v20250219 = "application/vnd.atlas.2025-02-19+json"
	readOnly  = "Project Read Only"
	orgMember = "Organization Member"
)

// routedOps lists what RoutingSpec routes: the operations of handlers().
func routedOps() []routedOp {
	const groups, users = "/api/atlas/v2/groups", "/api/atlas/v2/groups/{groupId}/databaseUsers"
	const orgs, members = "/api/atlas/v2/orgs", "/api/atlas/v2/groups/{groupId}/users"
	dbAccessAdmin := []string{"Project Database Access Admin", "Project Stream Processing Owner"}
	accessManager := []string{"Project Access Manager"}
	orgOwner := []string{"Organization Owner"}
	const accessList = groups + "/{groupId}/accessList"
	networkAdmin := []string{"Project Network Access Manager"}
	return append([]routedOp{
		{"listGroups", http.MethodGet, groups, 200, v20230101, nil},
		{"getGroup", http.MethodGet, groups + "/{groupId}", 200, v20230101, []string{readOnly}},
		{"getGroupByName", http.MethodGet, groups + "/byName/{groupName}", 200, v20230101, nil},
		{"listClusters", http.MethodGet, groups + "/{groupId}/clusters", 200, v20240805, []string{readOnly}},
		{"getCluster", http.MethodGet, groups + "/{groupId}/clusters/{clusterName}", 200, v20240805, []string{readOnly}},
		{"getClusterStatus", http.MethodGet, groups + "/{groupId}/clusters/{clusterName}/status", 200, v20230101, []string{readOnly}},
		{"listDatabaseUsers", http.MethodGet, users, 200, v20230101, []string{readOnly}},
		{"createDatabaseUser", http.MethodPost, users, 201, v20230101, dbAccessAdmin},
		{"getDatabaseUser", http.MethodGet, users + "/{databaseName}/{username}", 200, v20230101, []string{readOnly}},
		{"updateDatabaseUser", http.MethodPatch, users + "/{databaseName}/{username}", 200, v20230101, dbAccessAdmin},
		{"deleteDatabaseUser", http.MethodDelete, users + "/{databaseName}/{username}", 204, v20230101, dbAccessAdmin},

		{"listOrgs", http.MethodGet, orgs, 200, v20230101, nil},
		{"getOrg", http.MethodGet, orgs + "/{orgId}", 200, v20230101, []string{orgMember}},
		{"getOrgGroups", http.MethodGet, orgs + "/{orgId}/groups", 200, v20230101, []string{orgMember}},
		{"listFlexClusters", http.MethodGet, groups + "/{groupId}/flexClusters", 200, v20241113, []string{readOnly}},
		{"getFlexCluster", http.MethodGet, groups + "/{groupId}/flexClusters/{name}", 200, v20241113, []string{readOnly}},
		{"listGroupProcesses", http.MethodGet, groups + "/{groupId}/processes", 200, v20230101, []string{readOnly}},
		{"listDatabases", http.MethodGet, groups + "/{groupId}/processes/{processId}/databases", 200, v20230101, []string{readOnly}},
		{"listOrgUsers", http.MethodGet, orgs + "/{orgId}/users", 200, v20250219, []string{orgMember}},
		{"getOrgUser", http.MethodGet, orgs + "/{orgId}/users/{userId}", 200, v20250219, []string{orgMember}},
		{"addOrgRole", http.MethodPost, orgs + "/{orgId}/users/{userId}:addRole", 200, v20250219, orgOwner},
		{"removeOrgRole", http.MethodPost, orgs + "/{orgId}/users/{userId}:removeRole", 200, v20250219, orgOwner},
		{"listGroupUsers", http.MethodGet, members, 200, v20250219, []string{readOnly}},
		{"getGroupUser", http.MethodGet, members + "/{userId}", 200, v20250219, []string{readOnly}},
		{"addGroupUsers", http.MethodPost, members, 201, v20250219, accessManager},
		{"removeGroupUser", http.MethodDelete, members + "/{userId}", 204, v20250219, accessManager},
		{"addGroupUserRole", http.MethodPost, members + "/{userId}:addRole", 200, v20250219, accessManager},
		{"removeGroupUserRole", http.MethodPost, members + "/{userId}:removeRole", 200, v20250219, accessManager},
		{"listGroupEvents", http.MethodGet, groups + "/{groupId}/events", 200, v20230101, []string{readOnly}},
		{"listOrgEvents", http.MethodGet, orgs + "/{orgId}/events", 200, v20230101, []string{orgMember}},
		// The project IP access list (accesslist.go).
		{"listAccessListEntries", http.MethodGet, accessList, 200, v20230101, []string{readOnly}},
		{"createAccessListEntry", http.MethodPost, accessList, 200, v20230101, networkAdmin},
		{"getAccessListEntry", http.MethodGet, accessList + "/{entryValue}", 200, v20230101, []string{readOnly}},
		{"getAccessListStatus", http.MethodGet, accessList + "/{entryValue}/status", 200, v20230101, []string{readOnly}},
		{"deleteAccessListEntry", http.MethodDelete, accessList + "/{entryValue}", 204, v20230101, networkAdmin},
	}, append(serviceAccountOps(), apiKeyOps()...)...)
}

// serviceAccountOps are the service-account operations (serviceaccounts.go).
func serviceAccountOps() []routedOp {
	const gsa, osa = "/api/atlas/v2/groups/{groupId}/serviceAccounts", "/api/atlas/v2/orgs/{orgId}/serviceAccounts"
	owner, accessManager := []string{"Project Owner"}, []string{"Project Access Manager"}
	orgOwner, orgRead := []string{"Organization Owner"}, []string{"Organization Read Only"}
	return []routedOp{
		{"listGroupServiceAccounts", http.MethodGet, gsa, 200, v20240805, []string{readOnly}},
		{"createGroupServiceAccount", http.MethodPost, gsa, 201, v20240805, owner},
		{"getGroupServiceAccount", http.MethodGet, gsa + "/{clientId}", 200, v20240805, []string{readOnly}},
		{"deleteGroupServiceAccount", http.MethodDelete, gsa + "/{clientId}", 204, v20240805, owner},
		{"listAccessList", http.MethodGet, gsa + "/{clientId}/accessList", 200, v20240805, []string{readOnly}},
		{"createAccessList", http.MethodPost, gsa + "/{clientId}/accessList", 200, v20240805, accessManager},
		{"deleteGroupAccessEntry", http.MethodDelete, gsa + "/{clientId}/accessList/{ipAddress}", 204, v20240805, accessManager},
		{"createGroupSecret", http.MethodPost, gsa + "/{clientId}/secrets", 201, v20240805, owner},
		{"deleteGroupSecret", http.MethodDelete, gsa + "/{clientId}/secrets/{secretId}", 204, v20240805, owner},
		{"listOrgServiceAccounts", http.MethodGet, osa, 200, v20240805, orgRead},
		{"createOrgServiceAccount", http.MethodPost, osa, 201, v20240805, orgOwner},
		{"getOrgServiceAccount", http.MethodGet, osa + "/{clientId}", 200, v20240805, orgRead},
		{"deleteOrgServiceAccount", http.MethodDelete, osa + "/{clientId}", 204, v20240805, orgOwner},
		{"listOrgAccessList", http.MethodGet, osa + "/{clientId}/accessList", 200, v20240805, orgRead},
		{"createOrgAccessList", http.MethodPost, osa + "/{clientId}/accessList", 200, v20240805, orgOwner},
		{"deleteOrgAccessEntry", http.MethodDelete, osa + "/{clientId}/accessList/{ipAddress}", 204, v20240805, orgOwner},
		{"createOrgSecret", http.MethodPost, osa + "/{clientId}/secrets", 201, v20240805, orgOwner},
		{"deleteOrgSecret", http.MethodDelete, osa + "/{clientId}/secrets/{secretId}", 204, v20240805, orgOwner},
		{"getOrgSettings", http.MethodGet, "/api/atlas/v2/orgs/{orgId}/settings", 200, v20230101, []string{orgMember}},
	}
}

// RoutingSpec is a spec that only routes: it knows the operations the
// simulator implements (method, path, required roles, media type) and
// checks no request or response against the Atlas Admin API description.
// It is for where the SDK's OpenAPI file is not at hand, as for the jitbot
// binary in its container image, which has no Go module cache: a call the
// real Atlas would reject passes here. Checked reports false.
func RoutingSpec() (*Spec, error) {
	start := time.Now()
	doc := &openapi3.T{OpenAPI: "3.0.3", Info: &openapi3.Info{Title: "atlastest routing, unchecked", Version: sdkVersion}, Paths: openapi3.NewPaths()}
	s := &Spec{path: "(none: routing only, not checked)", doc: doc, ops: map[string]opInfo{}, unchecked: true}
	for _, op := range routedOps() {
		item := doc.Paths.Value(op.path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(op.path, item)
		}
		o := openapi3.NewOperation()
		o.OperationID = op.id
		ok := openapi3.NewResponse().WithDescription("OK")
		ok.Content = openapi3.Content{op.mediaType: openapi3.NewMediaType()}
		o.Responses = openapi3.NewResponses(openapi3.WithStatus(op.status, &openapi3.ResponseRef{Value: ok}))
		item.SetOperation(op.method, o)
		s.ops[op.id] = opInfo{method: op.method, path: op.path, roles: op.roles}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	s.router = router
	s.loadTime = time.Since(start)
	return s, nil
}
