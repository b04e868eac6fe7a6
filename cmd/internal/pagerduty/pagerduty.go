package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// DefaultBaseURL is PagerDuty's REST API.
const DefaultBaseURL = "https://api.pagerduty.com"

// Config is the pagerduty section of jitbot.yaml. The loader reads api_key
// from api_key_file when that is set, and checks base_url as an endpoint.
type Config struct {
	// APIKey is a REST API key (read-only is enough).
	APIKey     string `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	// BaseURL overrides the API's address (tests, the EU service region).
	BaseURL string `yaml:"base_url" check:"endpoint"`
	// HTTPClient is the wiring's (nil: one with a 10 s timeout).
	HTTPClient *http.Client `yaml:"-"`
}

// Validate reports what is wrong with the section, each problem with its
// path in it.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	if c.APIKey == "" && c.APIKeyFile == "" {
		errs.Add("api_key", "required: a PagerDuty REST API key (or api_key_file)")
	}
	if strings.ContainsAny(c.APIKey, " \t\r\n") {
		errs.Add("api_key", "contains white space: paste the key alone")
	}
	return errs
}

// Client reads who is on call.
type Client struct {
	key  string
	base string
	http *http.Client
}

var _ flows.OnCall = (*Client)(nil)

// New checks cfg (its secrets read) and returns a client.
func New(cfg Config) (*Client, error) {
	cfg.APIKeyFile = ""
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("pagerduty: %w", flows.ValidationError(problems))
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{key: cfg.APIKey, base: base, http: hc}, nil
}

// pageLimit is the page size asked for (PagerDuty's maximum is 100).
const pageLimit = 100

// maxPages bounds the pages read for one question: 10,000 on-call entries
// is far beyond any schedule, and a server that always says "more" must
// not keep jitbot reading.
const maxPages = 100

// OnCall lists the emails of the people on call now: on the schedules, and
// at the levels of the escalation policies. PagerDuty filters by every
// parameter given at once, so the two are asked separately.
func (c *Client) OnCall(ctx context.Context, q flows.OnCallQuery) ([]string, error) {
	var emails []string
	if len(q.Schedules) > 0 {
		v := url.Values{"schedule_ids[]": q.Schedules}
		got, err := c.oncalls(ctx, v)
		if err != nil {
			return nil, err
		}
		emails = append(emails, got...)
	}
	if len(q.EscalationPolicies) > 0 {
		v := url.Values{"escalation_policy_ids[]": q.EscalationPolicies}
		for _, l := range q.Levels {
			v.Add("escalation_levels[]", strconv.Itoa(l))
		}
		got, err := c.oncalls(ctx, v)
		if err != nil {
			return nil, err
		}
		emails = append(emails, got...)
	}
	return emails, nil
}

// oncallsPage is a page of GET /oncalls.
type oncallsPage struct {
	Oncalls []struct {
		User struct {
			ID    string `json:"id"`
			Type  string `json:"type"`
			Email string `json:"email"`
		} `json:"user"`
	} `json:"oncalls"`
	Limit  int  `json:"limit"`
	Offset int  `json:"offset"`
	More   bool `json:"more"`
}

func (c *Client) oncalls(ctx context.Context, filter url.Values) ([]string, error) {
	var out []string
	offset := 0
	for range maxPages {
		v := url.Values{}
		for k, vs := range filter {
			v[k] = vs
		}
		v.Set("include[]", "users")
		v.Set("limit", strconv.Itoa(pageLimit))
		v.Set("offset", strconv.Itoa(offset))
		var page oncallsPage
		if err := c.get(ctx, "/oncalls?"+v.Encode(), &page); err != nil {
			return nil, err
		}
		for _, o := range page.Oncalls {
			if o.User.Email == "" {
				return nil, fmt.Errorf("pagerduty: on-call user %s came without an email (is include[]=users honoured?)", o.User.ID)
			}
			out = append(out, strings.ToLower(o.User.Email))
		}
		if !page.More || len(page.Oncalls) == 0 {
			return out, nil
		}
		offset += len(page.Oncalls)
	}
	return nil, fmt.Errorf("pagerduty: more than %d pages of on-call entries", maxPages)
}

// errorBody is PagerDuty's error object.
type errorBody struct {
	Error struct {
		Message string   `json:"message"`
		Code    int      `json:"code"`
		Errors  []string `json:"errors"`
	} `json:"error"`
}

func (c *Client) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("pagerduty: %w", err)
	}
	req.Header.Set("Authorization", "Token token="+c.key)
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	resp, err := c.http.Do(req)
	if err != nil {
		return flows.WrapError(flows.EUNAVAILABLE, err, "PagerDuty could not be reached")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return flows.WrapError(flows.EUNAVAILABLE, err, "PagerDuty's answer was cut off")
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		_ = json.Unmarshal(body, &eb)
		msg := eb.Error.Message
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			msg += " (retry after " + resp.Header.Get("Retry-After") + "s)"
		}
		return flows.WrapError(flows.EUNAVAILABLE, errors.New(msg), "pagerduty: GET /oncalls: %d %s", resp.StatusCode, msg)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("pagerduty: GET /oncalls: %w", err)
	}
	return nil
}
