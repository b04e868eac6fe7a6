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
	readOnly  = "Project Read Only"
)

// routedOps lists what RoutingSpec routes: the operations of handlers().
func routedOps() []routedOp {
	const groups, users = "/api/atlas/v2/groups", "/api/atlas/v2/groups/{groupId}/databaseUsers"
	dbAccessAdmin := []string{"Project Database Access Admin", "Project Stream Processing Owner"}
	const accessList = groups + "/{groupId}/accessList"
	networkAdmin := []string{"Project Network Access Manager"}
	return []routedOp{
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
		// The project IP access list (accesslist.go).
		{"listAccessListEntries", http.MethodGet, accessList, 200, v20230101, []string{readOnly}},
		{"createAccessListEntry", http.MethodPost, accessList, 200, v20230101, networkAdmin},
		{"getAccessListEntry", http.MethodGet, accessList + "/{entryValue}", 200, v20230101, []string{readOnly}},
		{"getAccessListStatus", http.MethodGet, accessList + "/{entryValue}/status", 200, v20230101, []string{readOnly}},
		{"deleteAccessListEntry", http.MethodDelete, accessList + "/{entryValue}", 204, v20230101, networkAdmin},
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
