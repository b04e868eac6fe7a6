package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/slack-go/slack"
)

// Slack's response_url limits: "up to 5 times within 30 minutes".
const (
	ResponseURLMaxUses  = 5
	ResponseURLLifetime = 30 * time.Minute
)

// ResponsePost is one POST to a response_url, accepted or not.
type ResponsePost struct {
	URL  string
	Body json.RawMessage
	Text string
	// BlocksJSON is the blocks as sent (nil when none); Blocks is it decoded.
	BlocksJSON      json.RawMessage
	Blocks          slack.Blocks
	ResponseType    string // "ephemeral" or "in_channel"
	ReplaceOriginal bool
	DeleteOriginal  bool
	At              time.Time
	// Use counts accepted posts to this URL (1..5); 0 when rejected.
	Use int
	// Status is the HTTP status answered; Error the error code ("" when accepted).
	Status int
	Error  string
}

// Buttons lists the post's buttons in order.
func (p ResponsePost) Buttons() []*slack.ButtonBlockElement { return buttonsIn(p.Blocks) }

// AllText is the post's text plus the text of its blocks, one per line.
func (p ResponsePost) AllText() string { return joinText(p.Text, textIn(p.Blocks)) }

type responseURL struct {
	created time.Time
	uses    int
	// channel and ts link the URL to the message it came from, so
	// replace_original and delete_original act on that message.
	channel, ts string
}

// NewResponseURL issues a response_url as Slack puts in slash commands.
func (s *Server) NewResponseURL() string { return s.NewMessageResponseURL("", "") }

// NewMessageResponseURL issues a response_url tied to a posted message, as
// Slack puts in a block_actions payload: replace_original records a Revision
// on that message and delete_original marks it deleted.
func (s *Server) NewMessageResponseURL(channel, ts string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	path := fmt.Sprintf("/actions/%s/%d/%s", s.cfg.teamID, s.seq, randomToken())
	s.responseURLs[path] = &responseURL{created: s.cfg.clock.Now(), channel: channel, ts: ts}
	return s.baseURL + path
}

// ResponsePosts returns the posts to one response_url, or to all of them
// when url is "", oldest first.
func (s *Server) ResponsePosts(url string) []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ResponsePost
	for _, p := range s.responsePosts {
		if url == "" || p.URL == url {
			p.Body = slices.Clone(p.Body)
			p.BlocksJSON = slices.Clone(p.BlocksJSON)
			p.Blocks = mustBlocks(p.BlocksJSON)
			out = append(out, p)
		}
	}
	return out
}

// CountResponsePosts counts the posts to response_urls, accepted or not,
// without copying them (load scenarios poll it).
func (s *Server) CountResponsePosts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.responsePosts)
}

// serveResponseURL accepts what slack.PostWebhook and
// slack.MsgOptionResponseURL send. Rejections answer 404 with a JSON error,
// which both surface as an error: expired_url after 30 minutes, used_url
// after five uses, no_such_url for a URL the fake never issued.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
	}
	now := s.cfg.clock.Now()
	post := ResponsePost{URL: s.baseURL + r.URL.Path, Body: body, At: now, Status: http.StatusOK}
	decodeErr := json.Unmarshal(body, &msg)
	blocks, _, blocksCode := parseBlocks(string(msg.Blocks), maxMessageBlocks)
	post.Text, post.BlocksJSON, post.ResponseType = msg.Text, blocks, msg.ResponseType
	post.ReplaceOriginal, post.DeleteOriginal = msg.ReplaceOriginal, msg.DeleteOriginal

	var outageRetry time.Duration
	s.mu.Lock()
	ru, ok := s.responseURLs[r.URL.Path]
	switch {
	case s.outage.on(now):
		post.Status, post.Error = http.StatusTooManyRequests, "ratelimited"
		outageRetry = s.outage.retryAfter
	case !ok:
		post.Status, post.Error = http.StatusNotFound, "no_such_url"
	case now.Sub(ru.created) > ResponseURLLifetime:
		post.Status, post.Error = http.StatusNotFound, "expired_url"
	case ru.uses >= ResponseURLMaxUses:
		post.Status, post.Error = http.StatusNotFound, "used_url"
	case decodeErr != nil:
		post.Status, post.Error = http.StatusBadRequest, "invalid_payload"
	case blocksCode != "":
		post.Status, post.Error = http.StatusBadRequest, blocksCode
	default:
		ru.uses++
		post.Use = ru.uses
		if m := s.findMessageLocked(ru.channel, ru.ts); m != nil {
			switch {
			case msg.DeleteOriginal:
				m.Deleted = true
			case msg.ReplaceOriginal:
				// Unlike chat.update, a replacement keeps nothing of the original.
				m.Text, m.BlocksJSON = msg.Text, blocks
				m.Updates = append(m.Updates, Revision{Text: m.Text, BlocksJSON: blocks, At: now, Via: "response_url"})
			}
		}
	}
	if post.Status == http.StatusNotFound {
		s.violateLocked(Violation{Rule: RuleResponseURL, Method: "response_url", At: now, Detail: post.Error + ": " + post.URL})
	}
	s.responsePosts = append(s.responsePosts, post)
	s.notifyLocked()
	s.mu.Unlock()

	rep := okReply(nil)
	if post.Error != "" {
		rep = errReply(post.Error)
		rep.status = post.Status
		if post.Status == http.StatusTooManyRequests {
			rep.retryAfter = outageRetry
		}
	}
	rep.write(w)
}
