package identity

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/flows"
)

// relay is an SMTP server in the test (RFC 5321, with STARTTLS and AUTH
// PLAIN) that records what it is sent. It refuses MAIL before STARTTLS and
// AUTH when told to require them, as a submission relay does.
type relay struct {
	t    *testing.T
	ln   net.Listener
	tls  *tls.Config
	user string
	pass string

	mu       sync.Mutex
	messages []mailed
	refuse   bool // refuse every recipient
}

type mailed struct {
	from, to, data string
	tls, authed    bool
}

func newRelay(t *testing.T, cert *tls.Config, user, pass string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, ln: ln, tls: cert, user: user, pass: pass}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *relay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

func (r *relay) serve(c net.Conn) {
	defer c.Close()
	var m mailed
	rd, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
	say("220 relay.test ESMTP")
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO":
			ext := "250-relay.test\r\n250-AUTH PLAIN\r\n250 STARTTLS"
			if m.tls {
				ext = "250-relay.test\r\n250 AUTH PLAIN"
			}
			say(ext)
		case verb == "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, r.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, m.tls = tc, true
			rd, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case verb == "AUTH":
			parts := strings.Fields(line)
			raw, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1])
			if !m.tls || string(raw) != "\x00"+r.user+"\x00"+r.pass {
				say("535 authentication failed")
				continue
			}
			m.authed = true
			say("235 ok")
		case verb == "MAIL":
			if !m.tls || !m.authed {
				say("530 starttls and auth first")
				continue
			}
			m.from = strings.TrimSuffix(strings.TrimPrefix(line[5:], "FROM:<"), ">")
			say("250 ok")
		case verb == "RCPT":
			r.mu.Lock()
			refuse := r.refuse
			r.mu.Unlock()
			if refuse {
				say("550 no such user")
				continue
			}
			m.to = strings.TrimSuffix(strings.TrimPrefix(line[5:], "TO:<"), ">")
			say("250 ok")
		case verb == "DATA":
			say("354 go on")
			var sb strings.Builder
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				sb.WriteString(l)
			}
			m.data = sb.String()
			r.mu.Lock()
			r.messages = append(r.messages, m)
			r.mu.Unlock()
			say("250 queued")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (r *relay) sent() []mailed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mailed(nil), r.messages...)
}

// TestGuestLinksByMail: with a relay configured, the link goes to the
// guest by mail (over STARTTLS, signed in), never on the sponsor's card;
// a relay that refuses leaves no usable link and says so.
func TestGuestLinksByMail(t *testing.T) {
	g := newGuestRig(t)
	rl := newRelay(t, g.srv.TLS, "jitbot", "relay-password")
	g.x.smtp = &SMTPConfig{Host: "127.0.0.1", Port: rl.port(), From: "jitbot@example.com", Username: "jitbot", Password: "relay-password", StartTLS: true}
	g.x.deps.MailTLS = &tls.Config{RootCAs: g.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "127.0.0.1"}
	req := g.active(t)
	c, err := g.x.GuestLink(context.Background(), actor("UALICE", alice), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if guestLinkPattern.MatchString(c.Text) || !strings.Contains(c.Text, "by email to "+vendor) {
		t.Fatalf("the sponsor's card: %+v", c)
	}
	ms := rl.sent()
	if len(ms) != 1 || ms[0].to != vendor || ms[0].from != "jitbot@example.com" || !ms[0].tls || !ms[0].authed {
		t.Fatalf("mail %+v", ms)
	}
	for _, h := range []string{"To: " + vendor + "\r\n", "From: jitbot@example.com\r\n", "Subject: Your database access from " + alice + "\r\n"} {
		if !strings.Contains(ms[0].data, h) {
			t.Fatalf("no %q in\n%s", h, ms[0].data)
		}
	}
	link := guestLinkPattern.FindString(ms[0].data)
	if link == "" {
		t.Fatalf("no link in the mail:\n%s", ms[0].data)
	}
	// The mailed link works like any.
	b := g.browser()
	_, body := g.signInAsGuest(t, b, link, idptest.Login{Subject: "sub-vendor", AMR: []string{"mfa"}})
	if status, page := b.submit(g.srv.URL, body); status != http.StatusOK || !passwordPattern.MatchString(page) {
		t.Fatalf("reveal: %d\n%s", status, page)
	}
	var issued string
	for _, ev := range g.db.Events() {
		if ev.Type == flows.EventGuestLinkIssued {
			issued = ev.Message
		}
	}
	if !strings.Contains(issued, "sent by email to "+vendor) {
		t.Fatalf("link event %q", issued)
	}

	// A relay that refuses the guest: no link stays, the sponsor is told.
	rl.mu.Lock()
	rl.refuse = true
	rl.mu.Unlock()
	if _, err := g.x.GuestLink(context.Background(), actor("UALICE", alice), req.ID); flows.ErrorCode(err) != flows.EUNAVAILABLE || !strings.Contains(err.Error(), "mail relay") {
		t.Fatalf("refused by the relay: %v", err)
	}
	n := 0
	_ = g.db.EachSignIn(context.Background(), kindGuestLink, g.clock.Now(), func(string, []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d guest links live after the relay refused", n)
	}
	// Wrong relay credentials fail the same way.
	rl.mu.Lock()
	rl.refuse = false
	rl.mu.Unlock()
	g.x.smtp.Password = "wrong-password"
	if _, err := g.x.GuestLink(context.Background(), actor("UALICE", alice), req.ID); flows.ErrorCode(err) != flows.EUNAVAILABLE {
		t.Fatalf("wrong relay password: %v", err)
	}
}

func TestSMTPConfig(t *testing.T) {
	oidc := &OIDCConfig{Issuer: "https://login.example.com", ClientID: "jitbot", ClientSecret: "0123456789abcdef0123", RedirectURL: "https://jitbot.example.com/id/callback"}
	good := SMTPConfig{Host: "smtp.example.com", Port: 587, From: "jitbot@example.com", Username: "u", Password: "p", StartTLS: true}
	for _, tc := range []struct {
		name string
		edit func(*SMTPConfig)
		want string
	}{
		{"good", func(*SMTPConfig) {}, ""},
		{"loopback without tls", func(s *SMTPConfig) { s.Host, s.StartTLS, s.Username, s.Password = "127.0.0.1", false, "", "" }, ""},
		{"no host", func(s *SMTPConfig) { s.Host = "" }, "smtp.host"},
		{"host with port", func(s *SMTPConfig) { s.Host = "smtp.example.com:587" }, "smtp.host"},
		{"no port", func(s *SMTPConfig) { s.Port = 0 }, "smtp.port"},
		{"bad from", func(s *SMTPConfig) { s.From = "jitbot <jitbot@example.com>" }, "smtp.from"},
		{"user without password", func(s *SMTPConfig) { s.Password = "" }, "smtp.password: required (or password_file)"},
		{"clear text elsewhere", func(s *SMTPConfig) { s.StartTLS = false }, "smtp.starttls: set starttls: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			errs := Config{OIDC: oidc, SMTP: &s}.Validate()
			got := flows.ValidationError(errs).Error()
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatal(got)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(got, tc.want) {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}
