package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/slack"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/store"
)

// AckStack is jitbot's Slack acknowledgement path and nothing else: the
// real signed-request handler of bot/slack, whose inbox is a real store.DB
// (a bbolt file), served over loopback HTTP. Nothing takes the items it
// records (the inbox's workers are not started), so what a request costs
// is the ack alone: reading and verifying the signed request, parsing the
// command, committing the inbox record, answering. BenchmarkAck and the
// burst scenario's handler-cost figure run on it.
type AckStack struct {
	URL    string // the slash command endpoint
	db     *store.DB
	inbox  *bot.Inbox
	bot    *slack.Bot
	srv    *httptest.Server
	client *http.Client
}

// NewAckStack builds the ack path on a store at path; noSync opens it
// without fsync (bbolt's NoSync), which leaves the handler's own cost.
func NewAckStack(path string, noSync bool) (*AckStack, error) {
	db, err := store.Open(path, store.Options{NoSync: noSync})
	if err != nil {
		return nil, err
	}
	a := &AckStack{db: db}
	log := slog.New(slog.DiscardHandler)
	if a.inbox, err = bot.NewInbox(bot.InboxConfig{Store: db, Log: log}); err != nil {
		_ = db.Close()
		return nil, err
	}
	// The Web API is never called on this path: a slash command other
	// than /access alone is recorded and acknowledged.
	a.bot, err = slack.New(slack.Config{BotToken: rig.BotToken, SigningSecret: rig.SigningSecret, APIURL: "http://127.0.0.1:1/api/",
		Runtime: bot.Runtime{Inbox: a.inbox}}, bot.NewEngine(log), log)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	a.srv = httptest.NewServer(a.bot.Handler())
	a.URL = a.srv.URL + "/slack/commands"
	a.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	return a, nil
}

// Request is the nth signed `/access request ...` (each its own trigger id,
// requester and reason), as the burst sends them.
func (a *AckStack) Request(ctx context.Context, n int) (*http.Request, error) {
	form := slacktest.SlashCommandForm(slackgo.SlashCommand{
		TeamID: "T0RIG", ChannelID: "C0GENERAL", UserID: rig.Requester(n % 6000).ID, UserName: rig.Requester(n % 6000).Name, Command: "/access",
		Text:        fmt.Sprintf("request prod/%s/sales/orders read 1h ACK-%d", loadCluster(n%burstClusters), n),
		ResponseURL: "http://127.0.0.1:1/actions/T0RIG/1/x", TriggerID: fmt.Sprintf("ack.%d", n),
	})
	return slacktest.SignedRequest(ctx, a.URL, form, rig.SigningSecret, time.Now())
}

// Send posts the nth request and answers how long its acknowledgement took.
func (a *AckStack) Send(ctx context.Context, n int) (time.Duration, error) {
	req, err := a.Request(ctx, n)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return took, fmt.Errorf("ack: status %d", resp.StatusCode)
	}
	return took, nil
}

// Close stops the server and closes the store.
func (a *AckStack) Close() error {
	a.srv.Close()
	a.client.CloseIdleConnections()
	return errors.Join(a.bot.Close(), a.inbox.Close(), a.db.Close())
}

// HandlerCost is the handler's own cost per acknowledgement: n signed slash
// commands sent one after the other (so none waits for another) to an
// AckStack on a new store without fsync (in a directory of its own in dir,
// removed afterwards), after a warm-up of 200; it answers their p50, p99
// and max.
func HandlerCost(ctx context.Context, dir string, n int) (p50, p99, maxTook time.Duration, err error) {
	own, err := os.MkdirTemp(dir, "jitbot-handler-cost-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(own)
	a, err := NewAckStack(filepath.Join(own, "jitbot.db"), true)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	const warmup = 200
	took := make([]time.Duration, 0, n)
	for i := range warmup + n {
		d, err := a.Send(ctx, i)
		if err != nil {
			return 0, 0, 0, err
		}
		if i >= warmup {
			took = append(took, d)
		}
	}
	return percentile(took, 50), percentile(took, 99), percentile(took, 100), nil
}
