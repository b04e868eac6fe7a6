package teams

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
)

const convID = "a:1XyZ-conv;messageid=1700000000000"

// newConnector returns a Connector wired to the fake, on a fake clock whose Sleep advances time.
func newConnector(t *testing.T, bf *teamstest.BotFramework, clk *fakeClock, mods ...func(*ConnectorConfig)) *Connector {
	t.Helper()
	cfg := ConnectorConfig{
		AppID:       bf.AppID(),
		AppPassword: bf.AppPassword(),
		TokenURL:    bf.TokenURL(MultiTenant),
		HTTPClient:  bf.Client(),
		Clock:       clk,
		Sleep:       clk.Sleep,
		// The fake listens on loopback, which is not one of Microsoft's service hosts.
		ServiceHosts: []string{"127.0.0.1"},
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFake(t *testing.T, clk *fakeClock, opts ...teamstest.Option) *teamstest.BotFramework {
	t.Helper()
	bf := teamstest.New(append([]teamstest.Option{teamstest.WithClock(clk)}, opts...)...)
	t.Cleanup(bf.Close)
	return bf
}

func msg(text string) schema.Activity { return schema.Activity{Type: schema.Message, Text: text} }

func TestNewConnectorConfig(t *testing.T) {
	if _, err := NewConnector(ConnectorConfig{AppID: "a"}); err == nil {
		t.Error("missing password accepted")
	}
	if _, err := NewConnector(ConnectorConfig{AppPassword: "p"}); err == nil {
		t.Error("missing app id accepted")
	}
	if _, err := NewConnector(ConnectorConfig{AppID: "a", AppPassword: "p", TokenURL: "http://login.example.com/t"}); err == nil {
		t.Error("plain-http token url accepted")
	}
	if _, err := NewConnector(ConnectorConfig{AppID: "a", AppPassword: "p", ConversationLimits: []RateWindow{{0, time.Second}}}); err == nil {
		t.Error("zero rate limit accepted")
	}
	multi, _ := NewConnector(ConnectorConfig{AppID: "a", AppPassword: "p"})
	single, _ := NewConnector(ConnectorConfig{AppID: "a", AppPassword: "p", TenantID: "contoso-tenant-id"})
	if got := multi.TokenURL(); got != "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token" {
		t.Errorf("multi-tenant token url = %s", got)
	}
	if got := single.TokenURL(); got != "https://login.microsoftonline.com/contoso-tenant-id/oauth2/v2.0/token" {
		t.Errorf("single-tenant token url = %s", got)
	}
}

func TestTokenFetchedOnceAndReused(t *testing.T) {
	clk := newFakeClock()
	bf := newFake(t, clk, teamstest.WithTokenLifetime(time.Hour))
	c := newConnector(t, bf, clk, func(cfg *ConnectorConfig) { cfg.ConversationLimits = []RateWindow{} })

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			conv := "conv-" + string(rune('a'+i))
			if _, err := c.SendToConversation(context.Background(), bf.ServiceURL(), conv, msg("hi")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := bf.TokensIssued(); n != 1 {
		t.Fatalf("20 concurrent cold sends fetched %d tokens, want 1", n)
	}

	// Shortly before expiry (5 minutes early) the token is renewed, once.
	clk.Advance(54 * time.Minute)
	if _, err := c.SendToConversation(context.Background(), bf.ServiceURL(), "c", msg("still cached")); err != nil {
		t.Fatal(err)
	}
	if n := bf.TokensIssued(); n != 1 {
		t.Fatalf("token renewed too early: %d issued", n)
	}
	clk.Advance(2 * time.Minute)
	for range 3 {
		if _, err := c.SendToConversation(context.Background(), bf.ServiceURL(), "c", msg("renewed")); err != nil {
			t.Fatal(err)
		}
	}
	if n := bf.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued = %d, want 2 after renewal", n)
	}
}

// rewriteTransport sends requests for one host to a test server instead, recording the paths,
// so the default (real Microsoft) token URL can be exercised offline.
type rewriteTransport struct {
	from, to string
	base     http.RoundTripper
}

func (rt rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == rt.from {
		to, _ := url.Parse(rt.to)
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = to.Scheme, to.Host, to.Host
	}
	return rt.base.RoundTrip(r)
}

func TestTokenURLPerTenant(t *testing.T) {
	for _, tc := range []struct{ tenant, want string }{{"", "botframework.com"}, {"contoso-tenant-id", "contoso-tenant-id"}} {
		clk := newFakeClock()
		bf := newFake(t, clk)
		hc := &http.Client{Timeout: 5 * time.Second, Transport: rewriteTransport{
			from: "login.microsoftonline.com", to: bf.URL(), base: bf.Client().Transport,
		}}
		c := newConnector(t, bf, clk, func(cfg *ConnectorConfig) {
			cfg.TokenURL = ""
			cfg.TenantID = tc.tenant
			cfg.HTTPClient = hc
		})
		if _, err := c.SendToConversation(context.Background(), bf.ServiceURL(), convID, msg("hi")); err != nil {
			t.Fatal(err)
		}
		if got := bf.TokenTenants(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("tenant %q: token fetched for %v, want %s", tc.tenant, got, tc.want)
		}
	}
}

func TestTokenEndpointFailuresAreErrors(t *testing.T) {
	clk := newFakeClock()
	bf := newFake(t, clk)
	ctx := context.Background()

	bf.Fail(http.MethodPost, "/*/oauth2/v2.0/token", http.StatusInternalServerError, 1, 0)
	c := newConnector(t, bf, clk)
	_, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi"))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || apiErr.Op != "fetch bot token" {
		t.Fatalf("token endpoint 500: err = %v", err)
	}
	// Not cached: the next call fetches again and succeeds.
	if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi")); err != nil {
		t.Fatal(err)
	}

	wrong := newConnector(t, bf, clk, func(cfg *ConnectorConfig) { cfg.AppPassword = "wrong" })
	_, err = wrong.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_client" {
		t.Fatalf("wrong password: err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error leaks the secret: %v", err)
	}

	// Unreachable token endpoint: the library panicked here; we return an error.
	down := newConnector(t, bf, clk, func(cfg *ConnectorConfig) { cfg.TokenURL = "http://127.0.0.1:1/t/oauth2/v2.0/token" })
	if _, err := down.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi")); err == nil {
		t.Fatal("unreachable token endpoint: no error")
	}
	if err := down.Post(url.URL{Scheme: "http", Host: strings.TrimPrefix(bf.URL(), "http://"), Path: "/v3/conversations/x/activities"}, msg("hi")); err == nil {
		t.Fatal("unreachable token endpoint via client.Client: no error")
	}
}

func TestSendUpdateDeleteAndGetMember(t *testing.T) {
	clk := newFakeClock()
	bf := newFake(t, clk)
	c := newConnector(t, bf, clk)
	ctx := context.Background()

	card := schema.Attachment{ContentType: teamstest.AdaptiveCardContentType, Content: map[string]any{
		"type": "AdaptiveCard", "version": "1.4",
		"body": []any{map[string]any{"type": "TextBlock", "text": "pending"}},
	}}
	id, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, schema.Activity{Attachments: []schema.Attachment{card}})
	if err != nil {
		t.Fatal(err)
	}
	sent := bf.Activities()
	if len(sent) != 1 || sent[0].ActivityID != id || id == "" || sent[0].ConversationID != convID ||
		sent[0].Activity.Type != schema.Message {
		t.Fatalf("send returned %q, recorded %+v", id, sent)
	}
	if cards := sent[0].Cards(); len(cards) != 1 || teamstest.CardText(cards[0]) != "pending" {
		t.Fatalf("card = %v", cards)
	}

	if err := c.UpdateActivity(ctx, bf.ServiceURL(), convID, id, msg("approved")); err != nil {
		t.Fatal(err)
	}
	if cur, ok := bf.Current(convID, id); !ok || cur.Text != "approved" || cur.ID != id {
		t.Fatalf("after update: %+v %v", cur, ok)
	}
	calls := bf.Calls()
	last := calls[len(calls)-1]
	if last.Method != http.MethodPut || last.Path != "/v3/conversations/"+convID+"/activities/"+id {
		t.Fatalf("update went to %s %s", last.Method, last.Path)
	}

	var apiErr *APIError
	err = c.UpdateActivity(ctx, bf.ServiceURL(), convID, "no-such-activity", msg("x"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "NotFound" {
		t.Fatalf("update unknown: %v", err)
	}

	if err := c.DeleteActivity(ctx, bf.ServiceURL(), convID, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := bf.Current(convID, id); ok {
		t.Fatal("activity not deleted")
	}

	bf.AddMember(convID, teamstest.Member{
		ID: "29:alice", Name: "Alice", Email: "alice@example.com", UserPrincipalName: "alice@corp.example.com",
		AadObjectID: "aad-alice", TenantID: "tenant-1",
	})
	m, err := c.GetMember(ctx, bf.ServiceURL(), convID, "29:alice")
	if err != nil {
		t.Fatal(err)
	}
	want := Member{ID: "29:alice", Name: "Alice", Email: "alice@example.com", UserPrincipalName: "alice@corp.example.com", AadObjectID: "aad-alice", TenantID: "tenant-1"}
	if m != want {
		t.Fatalf("member = %+v, want %+v", m, want)
	}
	_, err = c.GetMember(ctx, bf.ServiceURL(), convID, "29:mallory")
	if !errors.As(err, &apiErr) || apiErr.Code != "MemberNotFoundInConversation" {
		t.Fatalf("unknown member: %v", err)
	}
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	sendPath := "/v3/conversations/*/activities"
	putPath := "/v3/conversations/*/activities/*"

	t.Run("429 with a Retry-After of a second is waited out", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk)
		bf.Fail(http.MethodPost, sendPath, http.StatusTooManyRequests, 1, time.Second)
		start := clk.Now()
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi")); err != nil {
			t.Fatal(err)
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 2 {
			t.Fatalf("attempts = %d, want 2", n)
		}
		if waited := clk.Now().Sub(start); waited < time.Second || waited > 2*time.Second {
			t.Fatalf("waited %s for Retry-After: 1s", waited)
		}
	})

	t.Run("502 retried on update", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk)
		id, _ := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("v1"))
		bf.Fail(http.MethodPut, putPath, http.StatusBadGateway, 2, 0)
		if err := c.UpdateActivity(ctx, bf.ServiceURL(), convID, id, msg("v2")); err != nil {
			t.Fatal(err)
		}
		if n := bf.CallCount(http.MethodPut, putPath); n != 3 {
			t.Fatalf("attempts = %d, want 3", n)
		}
		slept := clk.Slept()
		if len(slept) != 2 || slept[1] < slept[0]/2 {
			t.Fatalf("backoff waits = %v", slept)
		}
	})

	t.Run("412 and 504 retried on send", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk)
		bf.Fail(http.MethodPost, sendPath, http.StatusPreconditionFailed, 1, 0)
		bf.Fail(http.MethodPost, sendPath, http.StatusGatewayTimeout, 1, 0)
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi")); err != nil {
			t.Fatal(err)
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 3 {
			t.Fatalf("attempts = %d, want 3", n)
		}
	})

	t.Run("400 not retried", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk)
		bf.Fail(http.MethodPost, sendPath, http.StatusBadRequest, 1, 0)
		_, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi"))
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "BadArgument" {
			t.Fatalf("err = %v", err)
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 1 {
			t.Fatalf("attempts = %d, want 1", n)
		}
	})

	t.Run("attempts are bounded", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk, func(cfg *ConnectorConfig) { cfg.MaxAttempts = 3 })
		bf.Fail(http.MethodPost, sendPath, http.StatusServiceUnavailable, -1, 0)
		_, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi"))
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("err = %v", err)
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 3 {
			t.Fatalf("attempts = %d, want 3", n)
		}
	})

	t.Run("a longer Retry-After returns at once, rate limited", func(t *testing.T) {
		// The dispatcher holds the conversation for the Retry-After: the connector must not
		// hold its worker that long, on a send or an update.
		for _, wait := range []time.Duration{time.Minute, 3 * time.Second} {
			clk := newFakeClock()
			bf := newFake(t, clk)
			c := newConnector(t, bf, clk)
			id, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("v1"))
			if err != nil {
				t.Fatal(err)
			}
			bf.Fail(http.MethodPost, sendPath, http.StatusTooManyRequests, 1, wait)
			bf.Fail(http.MethodPut, putPath, http.StatusTooManyRequests, 1, wait)
			_, sendErr := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("v2"))
			updateErr := c.UpdateActivity(ctx, bf.ServiceURL(), convID, id, msg("v1 again"))
			for op, err := range map[string]error{"send": sendErr, "update": updateErr} {
				var rl bot.RateLimited
				if !errors.As(err, &rl) || rl.RetryAfter() != wait {
					t.Errorf("%s, Retry-After %s: err = %v, want bot.RateLimited", op, wait, err)
				}
				var pe bot.PermanentError
				if errors.As(err, &pe) && pe.Permanent() {
					t.Errorf("%s: a 429 is permanent", op)
				}
			}
			if n := bf.CallCount(http.MethodPost, sendPath); n != 2 {
				t.Errorf("Retry-After %s: %d sends, want 2 (one throttled, not retried)", wait, n)
			}
			if n := bf.CallCount(http.MethodPut, putPath); n != 1 {
				t.Errorf("Retry-After %s: %d updates, want 1", wait, n)
			}
			if slept := clk.Slept(); len(slept) != 0 {
				t.Errorf("Retry-After %s: slept %v", wait, slept)
			}
		}
	})

	t.Run("Retry-After as an HTTP date", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk, func(cfg *ConnectorConfig) {
			cfg.HTTPClient = &http.Client{Transport: retryAfterAsDate{base: bf.Client().Transport, clock: clk}}
		})
		bf.Fail(http.MethodPost, sendPath, http.StatusTooManyRequests, 1, time.Minute)
		_, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi"))
		var rl bot.RateLimited
		if !errors.As(err, &rl) || rl.RetryAfter() != time.Minute {
			t.Fatalf("err = %v, want bot.RateLimited of 1m", err)
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 1 || len(clk.Slept()) != 0 {
			t.Fatalf("%d sends, slept %v", n, clk.Slept())
		}
		// A date a second away is waited out, as a Retry-After of 1 would be.
		bf.Fail(http.MethodPost, sendPath, http.StatusTooManyRequests, 1, time.Second)
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi")); err != nil {
			t.Fatal(err)
		}
		if slept := clk.Slept(); len(slept) != 1 || slept[0] < time.Second {
			t.Fatalf("slept %v, want the second", slept)
		}
	})

	t.Run("403, 404 and 413 are permanent, others are not", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk, func(cfg *ConnectorConfig) { cfg.MaxAttempts = 2 })
		id, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("v1"))
		if err != nil {
			t.Fatal(err)
		}
		for status, permanent := range map[int]bool{
			http.StatusForbidden: true, http.StatusNotFound: true, http.StatusRequestEntityTooLarge: true,
			http.StatusBadRequest: false, http.StatusUnauthorized: false, http.StatusInternalServerError: false,
			http.StatusBadGateway: false, http.StatusServiceUnavailable: false,
		} {
			bf.Fail(http.MethodPost, sendPath, status, -1, 0)
			bf.Fail(http.MethodPut, putPath, status, -1, 0)
			_, sendErr := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("v2"))
			updateErr := c.UpdateActivity(ctx, bf.ServiceURL(), convID, id, msg("v1 again"))
			bf.ClearFaults()
			for op, err := range map[string]error{"send": sendErr, "update": updateErr} {
				var pe bot.PermanentError
				if got := errors.As(err, &pe) && pe.Permanent(); got != permanent {
					t.Errorf("%s answered %d: permanent = %v, want %v (%v)", op, status, got, permanent, err)
				}
				var rl bot.RateLimited
				if errors.As(err, &rl) && rl.RetryAfter() != 0 {
					t.Errorf("%s answered %d: rate limited for %s", op, status, rl.RetryAfter())
				}
			}
		}
	})

	t.Run("the token endpoint's refusals are never permanent", func(t *testing.T) {
		// A wrong app id, password or tenant fails every message alike: an operator fixes it,
		// and the messages must still be there.
		for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound} {
			clk := newFakeClock()
			bf := newFake(t, clk)
			c := newConnector(t, bf, clk)
			bf.Fail(http.MethodPost, "/*/oauth2/v2.0/token", status, 1, 0)
			_, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi"))
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Op != opFetchToken || apiErr.StatusCode != status {
				t.Fatalf("token %d: err = %v", status, err)
			}
			var pe bot.PermanentError
			if errors.As(err, &pe) && pe.Permanent() {
				t.Errorf("token %d: permanent", status)
			}
		}
	})

	t.Run("transport error retried for GET, not for POST", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk)
		bf.AddMember(teamstest.AllConversations, teamstest.Member{ID: "29:bob", Email: "bob@example.com"})
		// Three drops: net/http retries a dropped GET once by itself, so ours must retry too.
		bf.Fail(http.MethodGet, "/v3/conversations/*/members/*", 0, 3, 0)
		if m, err := c.GetMember(ctx, bf.ServiceURL(), convID, "29:bob"); err != nil || m.Email != "bob@example.com" {
			t.Fatalf("GetMember = %+v, %v", m, err)
		}

		bf.Fail(http.MethodPost, sendPath, 0, 1, 0)
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("maybe delivered")); err == nil {
			t.Fatal("dropped POST: no error")
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 1 {
			t.Fatalf("POST attempted %d times after a transport error; a retry could duplicate the message", n)
		}
	})

	t.Run("401 refreshes the token once", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		c := newConnector(t, bf, clk)
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("1")); err != nil {
			t.Fatal(err)
		}
		bf.Fail(http.MethodPost, sendPath, http.StatusUnauthorized, 1, 0)
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("2")); err != nil {
			t.Fatal(err)
		}
		if n := bf.TokensIssued(); n != 2 {
			t.Fatalf("tokens issued = %d, want 2", n)
		}
		bf.Fail(http.MethodPost, sendPath, http.StatusUnauthorized, -1, 0)
		_, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("3"))
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Fatalf("persistent 401: err = %v", err)
		}
	})

	t.Run("cancelled context stops retrying", func(t *testing.T) {
		clk := newFakeClock()
		bf := newFake(t, clk)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var sleeps []time.Duration
		// The caller gives up while the connector waits out the first 429.
		c := newConnector(t, bf, clk, func(cfg *ConnectorConfig) {
			cfg.Sleep = func(ctx context.Context, d time.Duration) error {
				sleeps = append(sleeps, d)
				cancel()
				return clk.Sleep(ctx, d)
			}
		})
		bf.Fail(http.MethodPost, sendPath, http.StatusTooManyRequests, -1, time.Second)
		_, err := c.SendToConversation(cctx, bf.ServiceURL(), convID, msg("hi"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("err = %v, want the 429 that was being waited out", err)
		}
		if len(sleeps) != 1 || sleeps[0] < time.Second {
			t.Fatalf("retry waits %v, want one of at least the Retry-After", sleeps)
		}
		if n := bf.CallCount(http.MethodPost, sendPath); n != 1 {
			t.Fatalf("%d attempts, want 1: no retry after the context was cancelled", n)
		}
	})
}

func TestPacingPerConversation(t *testing.T) {
	clk := newFakeClock()
	bf := newFake(t, clk)
	c := newConnector(t, bf, clk)
	ctx := context.Background()
	start := clk.Now()

	const n = 30
	for i := range n {
		if _, err := c.SendToConversation(ctx, bf.ServiceURL(), convID, msg("burst")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	var times []time.Time
	for _, a := range bf.ActivitiesIn(convID) {
		times = append(times, a.At)
	}
	if len(times) != n {
		t.Fatalf("recorded %d sends", len(times))
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for _, w := range DefaultConversationLimits() {
		if got := maxInWindow(times, w.Window); got > w.Limit {
			t.Errorf("%d sends within %s, limit %d", got, w.Window, w.Limit)
		}
	}
	if got := maxInWindow(times, time.Second); got != 7 {
		t.Errorf("burst used %d of 7 per second: pacing too strict", got)
	}
	t.Logf("%d sends paced over %s", n, clk.Now().Sub(start))

	// Another conversation is not held back by the first one's budget.
	before := clk.Now()
	if _, err := c.SendToConversation(ctx, bf.ServiceURL(), "other-conversation", msg("hi")); err != nil {
		t.Fatal(err)
	}
	if clk.Now() != before {
		t.Fatalf("other conversation waited %s", clk.Now().Sub(before))
	}

	// Updates count against the same conversation budget; GETs do not.
	bf.AddMember(convID, teamstest.Member{ID: "29:x"})
	before = clk.Now()
	for range 20 {
		if _, err := c.GetMember(ctx, bf.ServiceURL(), convID, "29:x"); err != nil {
			t.Fatal(err)
		}
	}
	if clk.Now() != before {
		t.Fatalf("reads were paced: waited %s", clk.Now().Sub(before))
	}
}

// maxInWindow is the largest number of times within any half-open window [t, t+w).
func maxInWindow(sorted []time.Time, w time.Duration) int {
	best := 0
	j := 0
	for i := range sorted {
		for j < len(sorted) && sorted[j].Before(sorted[i].Add(w)) {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

func TestPacerReserve(t *testing.T) {
	p, err := newPacer([]RateWindow{{2, time.Second}, {3, 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	var got []time.Duration
	for range 5 {
		got = append(got, p.reserve("c", t0))
	}
	want := []time.Duration{0, 0, time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	if d := p.reserve("other", t0); d != 0 {
		t.Fatalf("other key waited %s", d)
	}

	// Idle conversations are swept once the map grows.
	p2, _ := newPacer(DefaultConversationLimits())
	for i := range pacerSweepThreshold {
		p2.reserve(string(rune(i)), t0)
	}
	p2.reserve("late", t0.Add(time.Hour))
	if len(p2.convs) != 1 {
		t.Fatalf("%d conversations kept after sweep", len(p2.convs))
	}
}

func TestServiceURLValidation(t *testing.T) {
	clk := newFakeClock()
	bf := newFake(t, clk)
	c := newConnector(t, bf, clk)
	ctx := context.Background()
	for _, u := range []string{
		"", "not a url", "http://evil.example.com/", "ftp://127.0.0.1/", "https://user:pw@smba.trafficmanager.net/",
		"https:///nohost", "https://smba.trafficmanager.net/amer/?x=1", "//127.0.0.1/",
	} {
		if _, err := c.SendToConversation(ctx, u, convID, msg("hi")); !errors.Is(err, ErrInvalidServiceURL) {
			t.Errorf("service url %q: err = %v", u, err)
		}
		if err := c.UpdateActivity(ctx, u, convID, "1", msg("hi")); !errors.Is(err, ErrInvalidServiceURL) {
			t.Errorf("update via %q: err = %v", u, err)
		}
	}
	if n := len(bf.Calls()); n != 0 {
		t.Fatalf("%d requests made to refused service urls", n)
	}
	if err := c.Post(url.URL{Scheme: "http", Host: "evil.example.com", Path: "/v3/conversations/x/activities"}, msg("hi")); !errors.Is(err, ErrInvalidServiceURL) {
		t.Fatalf("client.Client Post to http non-loopback: %v", err)
	}

	allow := newConnector(t, bf, clk, func(cfg *ConnectorConfig) {
		cfg.ServiceHosts = []string{"*.botframework.com", "smba.trafficmanager.net"}
	})
	for u, ok := range map[string]bool{
		"https://smba.trafficmanager.net/amer/":         true,
		"https://SMBA.trafficmanager.net/emea/":         true,
		"https://europe.webchat.botframework.com/":      true,
		"https://botframework.com.evil.example.com/":    false,
		"https://evil.example.com/smba.trafficmanager/": false,
	} {
		_, err := allow.checkServiceURL(u)
		if (err == nil) != ok {
			t.Errorf("allowlist %q: err = %v, want ok=%v", u, err, ok)
		}
	}

	// By default the token goes to Microsoft's connector hosts only: public, GCC, GCC High, DoD.
	def := newConnector(t, bf, clk, func(cfg *ConnectorConfig) { cfg.ServiceHosts = nil })
	for u, ok := range map[string]bool{
		"https://smba.trafficmanager.net/amer/":                 true,
		"https://smba.trafficmanager.net/teams/":                true,
		"https://europe.webchat.botframework.com/":              true,
		"https://smba.infra.gcc.teams.microsoft.com/teams":      true,
		"https://smba.infra.gov.teams.microsoft.us/teams":       true,
		"https://smba.infra.dod.teams.microsoft.us/teams":       true,
		"https://evil.example.com/":                             false,
		"https://smba.trafficmanager.net.evil.example.com/":     false,
		"https://botframework.com.evil.example.com/":            false,
		"https://evil-smba.infra.gcc.teams.microsoft.com/teams": false,
		bf.ServiceURL(): false, // loopback: only when configured
	} {
		_, err := def.checkServiceURL(u)
		if (err == nil) != ok {
			t.Errorf("default hosts %q: err = %v, want ok=%v", u, err, ok)
		}
	}
	bf.Reset()
	if _, err := def.SendToConversation(ctx, bf.ServiceURL(), convID, msg("hi")); !errors.Is(err, ErrInvalidServiceURL) {
		t.Fatalf("default hosts: send to the loopback fake: %v", err)
	}
	if _, err := def.GetMember(ctx, "https://evil.example.com/", convID, "29:x"); !errors.Is(err, ErrInvalidServiceURL) {
		t.Fatalf("default hosts: get member elsewhere: %v", err)
	}
	if len(bf.Calls()) != 0 || bf.TokensIssued() != 0 {
		t.Fatalf("refused service urls still cost %d calls, %d tokens", len(bf.Calls()), bf.TokensIssued())
	}
	for _, bad := range [][]string{{"https://smba.trafficmanager.net"}, {"smba.trafficmanager.net:443"}, {"*"}, {"*.com"}, {""}, {"smba.trafficmanager.net/amer"}, {".botframework.com"}} {
		if _, err := NewConnector(ConnectorConfig{AppID: "a", AppPassword: "p", ServiceHosts: bad}); err == nil {
			t.Errorf("service hosts %q accepted", bad)
		}
	}

	// Path prefixes of real service URLs are kept; ids are escaped.
	c = def
	got, err := c.endpoint("https://smba.trafficmanager.net/amer/", "v3", "conversations", "a:1;messageid=2", "activities")
	if err != nil || got != "https://smba.trafficmanager.net/amer/v3/conversations/a:1%3Bmessageid=2/activities" {
		t.Fatalf("endpoint = %q, %v", got, err)
	}
	got, _ = c.endpoint("https://smba.trafficmanager.net/amer", "v3", "conversations", "a/b", "activities")
	if got != "https://smba.trafficmanager.net/amer/v3/conversations/a%2Fb/activities" {
		t.Fatalf("endpoint = %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 2 ":                           2 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Mon, 02 Jun 2025 09:00:30 GMT": 30 * time.Second,
		"Mon, 02 Jun 2025 08:00:00 GMT": 0,
		"99999999":                      24 * time.Hour,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

// retryAfterAsDate rewrites a Retry-After in seconds into the HTTP date it stands for on clock,
// the other form RFC 9110 allows.
type retryAfterAsDate struct {
	base  http.RoundTripper
	clock *fakeClock
}

func (r retryAfterAsDate) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		resp.Header.Set("Retry-After", r.clock.Now().Add(time.Duration(secs)*time.Second).UTC().Format(http.TimeFormat))
	}
	return resp, nil
}

// TestConnectorCloseStopsTheTokenFetch: a bot-token fetch outlives the caller that started it
// (others may wait for it), but not Close: Close cancels it and waits, so that it neither logs
// nor writes after its owner has shut down (serve's log, after serve returned).
func TestConnectorCloseStopsTheTokenFetch(t *testing.T) {
	asked := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body read, the server notices the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		once.Do(func() { close(asked) })
		select { // Microsoft never answers
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer srv.Close()
	defer close(done)
	var logs lockedBuffer
	c, err := NewConnector(ConnectorConfig{AppID: "a", AppPassword: "p", TokenURL: srv.URL + "/token", HTTPClient: srv.Client(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-asked; cancel() }()
	if _, err := c.token(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("token: %v", err)
	}
	c.Close()
	closed := logs.String()
	const fetchFailed = `msg="teams: fetch bot token"`
	if !strings.Contains(closed, fetchFailed) {
		t.Fatalf("the fetch was not over when Close returned; logs:\n%s", closed)
	}
	// After Close, a fetch runs in its caller's goroutine, bounded by its context.
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.token(ctx); err == nil {
		t.Fatal("a token from a server that never answers")
	}
	if got := logs.String(); strings.Count(got, fetchFailed) != 2 {
		t.Fatalf("logs:\n%s", got)
	}
}

// lockedBuffer is a log sink the fetches and the test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
