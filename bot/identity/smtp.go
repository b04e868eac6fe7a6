package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// SMTPConfig is the mail relay guest links go out through.
//
//	identity:
//	  smtp:
//	    host: smtp.example.com
//	    port: 587
//	    from: jitbot@example.com
//	    username: jitbot
//	    password_file: /run/secrets/smtp_password
//	    starttls: true
type SMTPConfig struct {
	Host         string `yaml:"host" check:"trim"`
	Port         int    `yaml:"port"`
	From         string `yaml:"from" check:"trim"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// StartTLS upgrades the connection before anything is sent; required
	// for a relay that is not on this machine.
	StartTLS bool `yaml:"starttls"`
}

func (s *SMTPConfig) validate(errs *flows.ValidationError) {
	if s.Host == "" || strings.ContainsAny(s.Host, "/: ") && net.ParseIP(s.Host) == nil {
		errs.Add("smtp.host", "%q: give the relay's host name (port apart)", s.Host)
	}
	if s.Port < 1 || s.Port > 65535 {
		errs.Add("smtp.port", "%d: give the relay's port (587 for submission with starttls)", s.Port)
	}
	if a, err := mail.ParseAddress(s.From); err != nil || a.Name != "" || a.Address != s.From {
		errs.Add("smtp.from", "%q is not an email address: give the sender guests see, such as jitbot@example.com", s.From)
	}
	if s.Username != "" && s.Password == "" {
		errs.Add("smtp.password", "required (or password_file) with a username")
	}
	if s.Password != "" && s.Username == "" {
		errs.Add("smtp.username", "required with a password")
	}
	if !s.StartTLS && !loopback(s.Host) {
		errs.Add("smtp.starttls", "set starttls: true: a relay on another machine is reached over TLS, or links and the relay's password would cross the network in clear")
	}
}

// sendMail sends one plain-text message through the relay: TLS first
// (when configured), then authentication, then the message. Lines of
// headers are built here from values jitbot checked: no header injection.
// tlsc, when set, replaces the default TLS configuration (tests: a relay
// with its own certificate authority).
func (s *SMTPConfig) sendMail(ctx context.Context, tlsc *tls.Config, to, subject, body string, now time.Time) error {
	if strings.ContainsAny(to+subject, "\r\n") {
		return errors.New("identity: a mail header holds a line break")
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("identity: reach the mail relay %s: %w", addr, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("identity: greet the mail relay %s: %w", addr, err)
	}
	defer c.Close()
	if s.StartTLS {
		cfg := tlsc
		if cfg == nil {
			cfg = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("identity: starttls with the mail relay %s: %w", addr, err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("identity: sign in to the mail relay %s: %w", addr, err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("identity: mail relay %s refused the sender: %w", addr, err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("identity: mail relay %s refused %s: %w", addr, to, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("identity: mail relay %s: %w", addr, err)
	}
	msg := "From: " + s.From + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nDate: " + now.UTC().Format(time.RFC1123Z) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nAuto-Submitted: auto-generated\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("identity: send to the mail relay %s: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("identity: mail relay %s did not take the message: %w", addr, err)
	}
	return c.Quit()
}
