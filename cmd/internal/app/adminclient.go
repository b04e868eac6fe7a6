package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

// AdminClient calls a running jitbot's admin API: the CLI's verbs while a
// server holds the store (bbolt lets one process in), and the scenarios
// reading the grants of a `jitbot serve` child.
type AdminClient struct {
	base  string
	token string
	http  *http.Client
}

// NewAdminClient is the client of the admin API of the jitbot cfg
// configures: at admin_listen when set, else at listen.
func NewAdminClient(cfg *config.Config) *AdminClient {
	addr := cfg.Listen
	if cfg.AdminListen != "" {
		addr = cfg.AdminListen
	}
	return &AdminClient{base: adminBase(addr), token: cfg.AdminToken, http: &http.Client{Timeout: 3 * time.Minute}}
}

// adminBase is where the running server's admin API is, from the listen address.
func adminBase(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Up reports whether a jitbot answers at the admin address.
func (c *AdminClient) Up(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Status is the running server's status: readiness and the health of its
// store, Atlas integrations, Slack and Teams.
func (c *AdminClient) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/admin/status", nil, &s)
	return s, err
}

// Grants lists the requests in state (live, all, or states separated by commas).
func (c *AdminClient) Grants(ctx context.Context, state string) ([]GrantView, error) {
	var views []GrantView
	err := c.do(ctx, http.MethodGet, "/admin/grants?state="+url.QueryEscape(state), nil, &views)
	return views, err
}

// Revoke ends request id as the admin as, for reason.
func (c *AdminClient) Revoke(ctx context.Context, id, as, reason string) (GrantView, error) {
	var v GrantView
	err := c.do(ctx, http.MethodPost, "/admin/grants/"+url.PathEscape(id)+"/revoke", revokeBody{As: as, Reason: reason}, &v)
	return v, err
}

// ExportAudit writes the audit records from since (all when zero) to w, as JSON lines.
func (c *AdminClient) ExportAudit(ctx context.Context, since time.Time, w io.Writer) error {
	q := ""
	if !since.IsZero() {
		q = "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339))
	}
	return c.do(ctx, http.MethodGet, "/admin/audit"+q, nil, w)
}

// VerifyAudit has the server walk the audit chain.
func (c *AdminClient) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	err := c.do(ctx, http.MethodGet, "/admin/audit/verify", nil, &res)
	return res, err
}

// ForgetContact has the server forget the Teams contact of email, as the admin as.
func (c *AdminClient) ForgetContact(ctx context.Context, email, as string) error {
	var res forgetResult
	return c.do(ctx, http.MethodPost, "/admin/contacts/teams/"+url.PathEscape(email)+"/forget", forgetBody{As: as}, &res)
}

// Backup streams a consistent snapshot of the running server's store to w
// (GET /admin/backup) and returns its size. It fails unless the snapshot
// arrived whole: the size and SHA-256 the server sends after it must match
// what w was given.
func (c *AdminClient) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/admin/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := *c.http
	hc.Timeout = BackupTimeout
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w at %s: %v", ErrNoServer, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, responseError(resp, http.MethodGet, "/admin/backup")
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup cut short after %d bytes: %w", n, err)
	}
	// The trailers arrive with the body's end.
	size := resp.Trailer.Get(BackupSizeTrailer)
	if why := resp.Trailer.Get(BackupErrorTrailer); why != "" || size == "" {
		if why == "" {
			why = "it did not say the snapshot was whole"
		}
		return n, fmt.Errorf("the server's backup failed after %d bytes: %s", n, why)
	}
	if size != strconv.FormatInt(n, 10) {
		return n, fmt.Errorf("backup cut short: %d bytes arrived, the server sent %s", n, size)
	}
	if got, want := hex.EncodeToString(sum.Sum(nil)), resp.Trailer.Get(BackupSHA256Trailer); got != want {
		return n, fmt.Errorf("backup damaged in transit: SHA-256 %s, the server sent %s", got, want)
	}
	return n, nil
}

// ErrNoServer says nothing listens at the admin address.
var ErrNoServer = errors.New("no jitbot server answers")

// responseError is what an answer other than a success says.
func responseError(resp *http.Response, method, path string) error {
	var e apiError
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(raw, &e) == nil && e.Message != "" {
		return fmt.Errorf("%s", e.Message)
	}
	return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
}

func (c *AdminClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %v", ErrNoServer, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp, method, path)
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
