package atlastest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dlclark/regexp2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

const (
	// SpecEnv names the environment variable that, when set, points at the OpenAPI file to
	// load instead of the one shipped in the SDK module.
	SpecEnv = "JITBOT_ATLAS_SPEC"

	sdkModule = "go.mongodb.org/atlas-sdk/v20250312020"
	// sdkVersion is the version pinned in go.mod; it is the last resort when neither the go
	// tool nor the build info can tell which version is in use.
	sdkVersion = "v20250312020.0.0"
	specFile   = "openapi/atlas-api-transformed.yaml"
)

// Spec is a loaded, immutable Atlas Admin API description with its router. It is safe for
// concurrent use and meant to be shared: loading costs about a second.
type Spec struct {
	path     string
	loadTime time.Duration
	doc      *openapi3.T
	router   routers.Router
	// ops indexes operations by operationId, which is also the SDK's method name with a
	// lower-case first letter.
	ops map[string]opInfo
	// unchecked: a RoutingSpec, which routes and validates nothing.
	unchecked bool
}

type opInfo struct {
	method string
	path   string
	roles  []string // x-rolesRequirements, as the UI names them ("Project Read Only")
}

// Checked reports whether calls are checked against the Atlas OpenAPI
// description (false for RoutingSpec).
func (s *Spec) Checked() bool { return !s.unchecked }

// Path returns the file the spec was loaded from.
func (s *Spec) Path() string { return s.path }

// LoadTime returns how long reading, parsing and routing the spec took.
func (s *Spec) LoadTime() time.Duration { return s.loadTime }

// Operations returns the number of operations the spec declares.
func (s *Spec) Operations() int { return len(s.ops) }

// HasOperation reports whether the spec declares operationID.
func (s *Spec) HasOperation(operationID string) bool {
	_, ok := s.ops[operationID]
	return ok
}

// The spec is immutable once loaded, so one copy per process is shared by every server; the
// sync.Once also serialises the registration of body decoders in kin-openapi's global table.
var shared struct {
	once sync.Once
	spec *Spec
	err  error
	// decoders guards kin-openapi's process-wide body decoder table: writes to it must not
	// race with validations running in other servers.
	decoders sync.Once
}

// SharedSpec loads the Atlas spec on first use and returns the same *Spec afterwards. The file
// is found through $JITBOT_ATLAS_SPEC, then `go list -m`, then the module cache.
func SharedSpec() (*Spec, error) {
	shared.once.Do(func() {
		path, err := locateSpec()
		if err != nil {
			shared.err = err
			return
		}
		shared.spec, shared.err = loadSpec(path)
	})
	return shared.spec, shared.err
}

func locateSpec() (string, error) {
	if p := os.Getenv(SpecEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("atlastest: %s=%q: %w", SpecEnv, p, err)
		}
		return p, nil
	}
	var tried []string
	if dir, err := goListModuleDir(); err == nil {
		p := filepath.Join(dir, specFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	} else {
		tried = append(tried, "go list: "+err.Error())
	}
	for _, p := range moduleCacheCandidates() {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("atlastest: cannot find %s of %s (set %s); tried: %s",
		specFile, sdkModule, SpecEnv, strings.Join(tried, "; "))
}

func goListModuleDir() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", sdkModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("module not downloaded")
	}
	return dir, nil
}

// moduleCacheCandidates lists where the SDK's spec would sit in the module cache, for
// binaries (jitbot demo) that run outside the source tree or without a go tool.
func moduleCacheCandidates() []string {
	versions := []string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path != sdkModule {
				continue
			}
			if dep.Replace != nil && dep.Replace.Version == "" {
				// A directory replacement: the spec lives in that directory.
				return []string{filepath.Join(dep.Replace.Path, specFile)}
			}
			if dep.Replace != nil {
				versions = append(versions, dep.Replace.Version)
			}
			versions = append(versions, dep.Version)
		}
	}
	versions = append(versions, sdkVersion)

	var caches []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		caches = append(caches, c)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, p := range filepath.SplitList(gp) {
			caches = append(caches, filepath.Join(p, "pkg", "mod"))
		}
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			caches = append(caches, c)
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		caches = append(caches, filepath.Join(home, "go", "pkg", "mod"))
	}

	var out []string
	for _, c := range caches {
		for _, v := range versions {
			out = append(out, filepath.Join(c, escapeModulePath(sdkModule)+"@"+v, specFile))
		}
	}
	return out
}

// escapeModulePath applies the module cache's case encoding ("A" is stored as "!a").
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The spec's x-xgen-changelog maps use bare dates as keys ("2025-05-08: ..."), which YAML
// decodes as timestamps and the loader then rejects ("unsupported map key of type
// time.Time"); quoting them keeps them strings.
var bareDateKey = regexp.MustCompile(`(?m)^(\s+)(\d{4}-\d{2}-\d{2}):`)

func loadSpec(path string) (*Spec, error) {
	start := time.Now()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("atlastest: read spec: %w", err)
	}
	raw = bareDateKey.ReplaceAll(raw, []byte(`$1"$2":`))

	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("atlastest: load spec %s: %w", path, err)
	}
	// doc.Validate() is skipped on purpose: the real spec fails it (lookahead patterns Go's
	// RE2 cannot compile, and two paths kin-openapi considers conflicting), while request
	// validation works. The servers list is dropped so that routes match any host, including
	// the simulator's 127.0.0.1 address, instead of only https://cloud.mongodb.com.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("atlastest: build router: %w", err)
	}

	s := &Spec{path: path, doc: doc, router: router, ops: map[string]opInfo{}}
	jsonTypes := map[string]bool{}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID != "" {
				s.ops[op.OperationID] = opInfo{method: method, path: p, roles: stringList(op.Extensions["x-rolesRequirements"])}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for ct := range op.RequestBody.Value.Content {
					jsonTypes[ct] = true
				}
			}
			if op.Responses != nil {
				for _, resp := range op.Responses.Map() {
					if resp.Value != nil {
						for ct := range resp.Value.Content {
							jsonTypes[ct] = true
						}
					}
				}
			}
		}
	}
	shared.decoders.Do(func() {
		// kin-openapi decodes only application/json out of the box; Atlas versions every body
		// as application/vnd.atlas.YYYY-MM-DD+json.
		types := make([]string, 0, len(jsonTypes))
		for ct := range jsonTypes {
			if strings.HasPrefix(ct, "application/vnd.atlas.") && strings.HasSuffix(ct, "+json") {
				types = append(types, ct)
			}
		}
		sort.Strings(types)
		for _, ct := range types {
			if openapi3filter.RegisteredBodyDecoder(ct) == nil {
				openapi3filter.RegisterBodyDecoder(ct, openapi3filter.JSONBodyDecoder)
			}
		}
	})
	s.loadTime = time.Since(start)
	return s, nil
}

func stringList(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// compileRegex accepts the spec's ECMAScript patterns: Go's RE2 first (fast, linear), then
// regexp2 for what RE2 refuses, such as the lookaheads in the IP address patterns.
func compileRegex(expr string) (openapi3.RegexMatcher, error) {
	if re, err := regexp.Compile(expr); err == nil {
		return re, nil
	}
	re, err := regexp2.Compile(expr, regexp2.ECMAScript)
	if err != nil {
		if re, err = regexp2.Compile(expr, regexp2.None); err != nil {
			return nil, fmt.Errorf("atlastest: compile pattern %q: %w", expr, err)
		}
	}
	// Backtracking engines can be made to run for ever; a request is not worth that.
	re.MatchTimeout = 100 * time.Millisecond
	return regexp2Matcher{re}, nil
}

type regexp2Matcher struct{ re *regexp2.Regexp }

func (m regexp2Matcher) MatchString(s string) bool {
	ok, err := m.re.MatchString(s)
	return err == nil && ok
}

func (s *Spec) filterOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		// Authentication is the simulator's job (Digest, OAuth), not the validator's.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// Setting defaults rewrites the body, which kin-openapi cannot re-encode for the
		// vnd.atlas media types ("rewriting failed: unsupported content type").
		SkipSettingDefaults:   true,
		RegexCompiler:         compileRegex,
		MultiError:            true,
		IncludeResponseStatus: true,
	}
}

// findRoute maps a request to its spec operation. Errors are routers.ErrPathNotFound or
// routers.ErrMethodNotAllowed.
func (s *Spec) findRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	return s.router.FindRoute(r)
}

// validateRequest checks r (whose body has already been read into body) against route.
func (s *Spec) validateRequest(ctx context.Context, r *http.Request, body []byte, route *routers.Route, params map[string]string) error {
	if s.unchecked {
		return nil
	}
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    s.filterOptions(),
	})
}

// validateResponse checks a response the simulator is about to send. Write-only checks stay
// on: they prove the simulator never leaks password or groupId.
func (s *Spec) validateResponse(ctx context.Context, r *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	if s.unchecked {
		return nil
	}
	opts := s.filterOptions()
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
			Options:    opts,
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: opts,
	})
}

// responseContentType picks the media type the spec declares for an operation's status code,
// preferring the one the client asked for in Accept, as Atlas answers in the requested version.
func responseContentType(route *routers.Route, status int, accept string) string {
	if route == nil || route.Operation == nil || route.Operation.Responses == nil {
		return ""
	}
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil || len(ref.Value.Content) == 0 {
		return ""
	}
	for _, a := range strings.Split(accept, ",") {
		a = strings.TrimSpace(strings.SplitN(a, ";", 2)[0])
		if _, ok := ref.Value.Content[a]; ok {
			return a
		}
	}
	keys := make([]string, 0, len(ref.Value.Content))
	for k := range ref.Value.Content {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[0]
}
