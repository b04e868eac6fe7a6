//go:build tools

// This file pins the modules the project is about to import so that go mod tidy keeps them; it is never built.
package tools

import (
	_ "github.com/dlclark/regexp2"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/getkin/kin-openapi/routers/gorillamux"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/infracloudio/msbotbuilder-go/core"
	_ "github.com/infracloudio/msbotbuilder-go/core/activity"
	_ "github.com/infracloudio/msbotbuilder-go/schema"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/robfig/cron/v3"
	_ "github.com/slack-go/slack"
	_ "github.com/slack-go/slack/slackevents"
	_ "github.com/slack-go/slack/socketmode"
	_ "go.etcd.io/bbolt"
	_ "go.mongodb.org/atlas-sdk/v20250312020/admin"
	_ "go.mongodb.org/atlas-sdk/v20250312020/auth"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/api/networking/v1"
	_ "sigs.k8s.io/yaml"
)

