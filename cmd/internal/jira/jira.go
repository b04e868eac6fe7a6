package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Config is the jira section of jitbot.yaml. The loader reads api_token
// from api_token_file when that is set, and checks base_url as an endpoint.
type Config struct {
	// BaseURL is the site, https://example.atlassian.net.
	BaseURL string `yaml:"base_url" check:"endpoint"`
	// Email and APIToken sign in with basic auth; without Email, APIToken
	// is sent as a bearer token (a personal access token of Jira Data
	// Center, or an OAuth access token).
	Email        string `yaml:"email" check:"trim"`
	APIToken     string `yaml:"api_token"`
	APITokenFile string `yaml:"api_token_file"`
	// HTTPClient is the wiring's (nil: one with a 10 s timeout).
	HTTPClient *http.Client `yaml:"-"`
}

// Validate reports what is wrong with the section.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	if c.BaseURL == "" {
		errs.Add("base_url", "required: your Jira site, like https://example.atlassian.net")
	}
	if c.APIToken == "" && c.APITokenFile == "" {
		errs.Add("api_token", "required: an API token (or api_token_file)")
	}
	if c.Email != "" {
		if _, err := flows.NormalizeEmail(c.Email); err != nil {
			errs.Add("email", "%s", flows.ErrorMessage(err))
		}
	}
	return errs
}

// Client reads Jira issues.
type Client struct {
	base string
	auth string
	http *http.Client
}

var _ flows.Tickets = (*Client)(nil)

// New checks cfg (its secrets read) and returns a client.
func New(cfg Config) (*Client, error) {
	cfg.APITokenFile = ""
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("jira: %w", flows.ValidationError(problems))
	}
	auth := "Bearer " + cfg.APIToken
	if cfg.Email != "" {
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(cfg.Email, cfg.APIToken)
		auth = req.Header.Get("Authorization")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), auth: auth, http: hc}, nil
}

// issue is the part of an issue jitbot reads.
type issue struct {
	Key    string `json:"key"`
	Fields struct {
		Status struct {
			Name           string `json:"name"`
			StatusCategory struct {
				Key string `json:"key"`
			} `json:"statusCategory"`
		} `json:"status"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
		Resolution *struct {
			Name string `json:"name"`
		} `json:"resolution"`
	} `json:"fields"`
}

// Ticket reads the issue key. A 404 (no such issue, or none the account
// may see: Jira does not tell them apart) is Exists false; any other
// failure is an error, which flows treats as an outage.
func (c *Client) Ticket(ctx context.Context, key string) (flows.Ticket, error) {
	if !flows.TicketKey.MatchString(key) || flows.TicketKey.FindString(key) != key {
		return flows.Ticket{}, flows.Errorf(flows.EINVALID, "%q is not a Jira issue key", key)
	}
	u := c.base + "/rest/api/3/issue/" + url.PathEscape(key) + "?fields=status,project,resolution"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return flows.Ticket{}, fmt.Errorf("jira: %w", err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return flows.Ticket{}, flows.WrapError(flows.EUNAVAILABLE, err, "Jira could not be reached")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return flows.Ticket{}, flows.WrapError(flows.EUNAVAILABLE, err, "Jira's answer was cut off")
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return flows.Ticket{Key: key}, nil
	default:
		var eb struct {
			ErrorMessages []string `json:"errorMessages"`
		}
		_ = json.Unmarshal(body, &eb)
		msg := strings.Join(eb.ErrorMessages, "; ")
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			msg += " (retry after " + resp.Header.Get("Retry-After") + "s)"
		}
		return flows.Ticket{}, flows.WrapError(flows.EUNAVAILABLE, errors.New(msg), "jira: GET issue %s: %d %s", key, resp.StatusCode, msg)
	}
	var is issue
	if err := json.Unmarshal(body, &is); err != nil {
		return flows.Ticket{}, fmt.Errorf("jira: GET issue %s: %w", key, err)
	}
	return flows.Ticket{
		Key: key, Exists: true, Project: is.Fields.Project.Key,
		Resolved: is.Fields.Status.StatusCategory.Key == "done" || is.Fields.Resolution != nil,
	}, nil
}
