package auditsink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RFC 5424 fields of jitbot's messages.
const (
	// facilityAudit is facility 13, "log audit".
	facilityAudit = 13
	severityInfo  = 6
	severityWarn  = 4
	// SDID is the structured data element every message carries. 32473 is
	// the enterprise number RFC 5612 reserves for documentation: jitbot has
	// none of its own, and a private SD-ID must name one.
	SDID = "jitbot@32473"
)

// Syslog sends events as RFC 5424 messages over TLS, framed by octet
// counting (RFC 5425: "<length> <message>"), one connection kept open and
// dialled again after any failure. A batch counts as acknowledged once it
// is written to the connection: syslog has no acknowledgements, so a
// receiver that dies with bytes in its buffers can lose them (the webhook
// acknowledges each batch).
type Syslog struct {
	addr    string
	tls     *tls.Config
	host    string
	app     string
	timeout time.Duration

	mu   sync.Mutex
	conn *tls.Conn
}

// SyslogOptions are a syslog sink's settings.
type SyslogOptions struct {
	Address string // host:port of the receiver (6514 is syslog over TLS's port)
	// TLS is the client's TLS configuration (RootCAs for the receiver's CA,
	// Certificates for a client certificate). ServerName defaults to
	// Address's host.
	TLS *tls.Config
	// AppName is the messages' APP-NAME ("jitbot").
	AppName string
	// Hostname is the messages' HOSTNAME (os.Hostname).
	Hostname string
	// Timeout bounds a dial and a batch's write (10 s).
	Timeout time.Duration
}

// NewSyslog returns a syslog sink; it dials on the first Send.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	host, _, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("syslog: address %q: %w", o.Address, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if o.AppName == "" {
		o.AppName = "jitbot"
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &Syslog{addr: o.Address, tls: cfg, host: headerField(o.Hostname, 255), app: headerField(o.AppName, 48), timeout: o.Timeout}, nil
}

// TLSConfig builds a syslog client's TLS configuration from PEM files: the
// CA that signed the receiver's certificate (empty: the system's roots),
// and a client certificate and key (both or neither).
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case certFile != "" || keyFile != "":
		return nil, errors.New("cert_file and key_file go together: set both for a client certificate, or neither")
	}
	return cfg, nil
}

// Send implements Sink: one write of every event's frame.
func (s *Syslog) Send(ctx context.Context, events []Event) error {
	var buf bytes.Buffer
	for _, ev := range events {
		msg, err := s.Format(ev)
		if err != nil {
			return err
		}
		buf.WriteString(strconv.Itoa(len(msg)))
		buf.WriteByte(' ')
		buf.Write(msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetWriteDeadline(deadline)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		s.drop()
		return fmt.Errorf("syslog: write to %s: %w", s.addr, err)
	}
	return nil
}

// connect returns the open connection, or dials one. A connection the
// receiver closed (a restart) is found out before writing: a receiver
// never writes, so a read that does not merely time out means it is gone.
func (s *Syslog) connect(ctx context.Context) (*tls.Conn, error) {
	if s.conn != nil {
		_ = s.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		var one [1]byte
		_, err := s.conn.Read(one[:])
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			s.drop()
		}
	}
	if s.conn != nil {
		return s.conn, nil
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: s.timeout}, Config: s.tls}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("syslog: connect to %s: %w", s.addr, err)
	}
	s.conn = conn.(*tls.Conn)
	return s.conn, nil
}

func (s *Syslog) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Close implements Sink.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop()
	return nil
}

// Format is ev as an RFC 5424 message: facility log audit, severity
// warning for what failed and informational otherwise, MSGID the event's
// type, the structured data element SDID with its id, sequence number,
// chain and hash (what a receiver deduplicates and verifies with), and the
// event as JSON for the message.
func (s *Syslog) Format(ev Event) ([]byte, error) {
	sev := severityInfo
	if strings.HasSuffix(ev.Type, "_failed") || ev.Type == "grant_missing" || ev.Type == "credentials_undelivered" {
		sev = severityWarn
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("syslog: encode event %s: %w", ev.ID, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s - %s [%s", facilityAudit*8+sev, ev.At.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		s.host, s.app, headerField(ev.Type, 32), SDID)
	for _, p := range [][2]string{{"id", ev.ID}, {"seq", strconv.FormatUint(ev.Seq, 10)}, {"chain", ev.Chain}, {"hash", ev.Hash}, {"prev_hash", ev.PrevHash}} {
		fmt.Fprintf(&b, " %s=\"%s\"", p[0], sdEscape(p[1]))
	}
	b.WriteString("] ")
	b.Write(body)
	return b.Bytes(), nil
}

// headerField is s as an RFC 5424 header field: printable US-ASCII, no
// space, at most n characters, "-" when empty.
func headerField(s string, n int) string {
	out := strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return '_'
		}
		return r
	}, s)
	if len(out) > n {
		out = out[:n]
	}
	if out == "" {
		return "-"
	}
	return out
}

// sdEscape escapes a PARAM-VALUE: '"', '\' and ']' take a backslash.
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}
