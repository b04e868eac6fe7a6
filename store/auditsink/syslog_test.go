package auditsink_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/auditsink"
)

// testPKI is a CA made for one test, with a server certificate for
// 127.0.0.1 and a client certificate, all written as PEM files.
type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jitbot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips ...net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, IPAddresses: ips,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	serverDER, serverKey := leaf(2, "syslog receiver", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	p.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	clientDER, clientKey := leaf(3, "jitbot", x509.ExtKeyUsageClientAuth)
	p.certFile = p.write(t, "client.pem", "CERTIFICATE", clientDER)
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = p.write(t, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// syslogMsg is an RFC 5424 message as the receiver parsed it.
type syslogMsg struct {
	pri                                       int
	timestamp, host, app, procID, msgID, sdID string
	params                                    map[string]string
	msg                                       string
}

// syslogReceiver is a syslog-over-TLS receiver (RFC 5425) that asks for a
// client certificate from the test CA, reads octet-counted frames and
// parses each message's RFC 5424 header and structured data strictly.
type syslogReceiver struct {
	t  *testing.T
	ln net.Listener

	mu    sync.Mutex
	msgs  []syslogMsg
	errs  []error
	conns []net.Conn
	wg    sync.WaitGroup
}

func newSyslogReceiver(t *testing.T, p *testPKI) *syslogReceiver {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &syslogReceiver{t: t, ln: ln}
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			r.wg.Go(func() { r.read(c) })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); r.hangUp(); r.wg.Wait() })
	return r
}

func (r *syslogReceiver) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		msg, err := readFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}
			return
		}
		m, err := parse5424(msg)
		r.mu.Lock()
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%w in %q", err, msg))
		} else {
			r.msgs = append(r.msgs, m)
		}
		r.mu.Unlock()
	}
}

// hangUp closes every connection taken so far, as a receiver restarting.
func (r *syslogReceiver) hangUp() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

func (r *syslogReceiver) received(n int) []syslogMsg {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		msgs, errs := append([]syslogMsg(nil), r.msgs...), append([]error(nil), r.errs...)
		r.mu.Unlock()
		if len(errs) > 0 {
			r.t.Fatalf("the receiver could not read what it got: %v", errs)
		}
		if len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(5 * time.Millisecond) // the receiver reads on its own goroutine
	}
}

// readFrame reads one RFC 5425 frame: MSG-LEN SP SYSLOG-MSG, MSG-LEN a
// non-zero decimal without leading zeros.
func readFrame(br *bufio.Reader) ([]byte, error) {
	head, err := br.ReadString(' ')
	if err != nil {
		if head == "" {
			return nil, err
		}
		return nil, fmt.Errorf("a frame cut short in its length %q: %w", head, err)
	}
	digits := strings.TrimSuffix(head, " ")
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 || digits[0] == '0' || len(digits) > 7 {
		return nil, fmt.Errorf("frame length %q is not a non-zero decimal (RFC 5425 MSG-LEN)", digits)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		return nil, fmt.Errorf("a frame of %d octets cut short: %w", n, err)
	}
	return msg, nil
}

var header5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) `)

// parse5424 parses the header and the structured data of an RFC 5424
// message with one SD-ELEMENT.
func parse5424(raw []byte) (syslogMsg, error) {
	s := string(raw)
	h := header5424.FindStringSubmatch(s)
	if h == nil {
		return syslogMsg{}, errors.New("not an RFC 5424 header")
	}
	m := syslogMsg{timestamp: h[2], host: h[3], app: h[4], procID: h[5], msgID: h[6], params: map[string]string{}}
	m.pri, _ = strconv.Atoi(h[1])
	if m.pri > 191 {
		return m, fmt.Errorf("PRI %d is out of range", m.pri)
	}
	if _, err := time.Parse(time.RFC3339Nano, m.timestamp); err != nil {
		return m, fmt.Errorf("timestamp: %w", err)
	}
	rest := s[len(h[0]):]
	if !strings.HasPrefix(rest, "[") {
		return m, errors.New("no structured data")
	}
	rest = rest[1:]
	i := strings.IndexAny(rest, " ]")
	if i <= 0 {
		return m, errors.New("no SD-ID")
	}
	m.sdID, rest = rest[:i], rest[i:]
	for strings.HasPrefix(rest, " ") {
		eq := strings.Index(rest, `="`)
		if eq < 0 {
			return m, errors.New("a PARAM without =\"")
		}
		name := rest[1:eq]
		rest = rest[eq+2:]
		var val strings.Builder
		for {
			if rest == "" {
				return m, fmt.Errorf("PARAM-VALUE of %s not closed", name)
			}
			c := rest[0]
			rest = rest[1:]
			if c == '\\' && rest != "" && strings.ContainsRune(`"\]`, rune(rest[0])) {
				val.WriteByte(rest[0])
				rest = rest[1:]
				continue
			}
			if c == '"' {
				break
			}
			if c == ']' {
				return m, fmt.Errorf("PARAM-VALUE of %s has an unescaped ]", name)
			}
			val.WriteByte(c)
		}
		m.params[name] = val.String()
	}
	if !strings.HasPrefix(rest, "] ") {
		return m, errors.New("structured data not closed by \"] \"")
	}
	m.msg = rest[2:]
	return m, nil
}

func newSyslog(t *testing.T, p *testPKI, addr string) *auditsink.Syslog {
	t.Helper()
	cfg, err := auditsink.TLSConfig(p.caFile, p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditsink.NewSyslog(auditsink.SyslogOptions{Address: addr, TLS: cfg, AppName: "jitbot-test", Hostname: "jitbot-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSyslogOverTLSFramedAndParsed(t *testing.T) {
	p := newPKI(t)
	r := newSyslogReceiver(t, p)
	clock := flowstest.NewClock(t0)
	b := flowstest.NewStore()
	appendN(t, b, 0, 5, t0)
	// A warning, whose message holds quotes, a backslash and a bracket.
	if err := b.AppendEvents(context.Background(), flowEvent(`says "hi" \ and ] too`)); err != nil {
		t.Fatal(err)
	}
	s := newStreamer(t, "logs", newSyslog(t, p, r.ln.Addr().String()), b, b, clock)
	drain(t, s)
	msgs := r.received(6)
	recs := records(t, b)
	if len(msgs) != len(recs) {
		t.Fatalf("received %d messages, want %d", len(msgs), len(recs))
	}
	chain := recs[0].Hash
	for i, m := range msgs {
		rec := recs[i]
		want := map[string]string{"id": auditsink.EventID(chain, rec.Seq), "seq": strconv.FormatUint(rec.Seq, 10), "chain": chain, "hash": rec.Hash, "prev_hash": rec.PrevHash}
		pri := 13*8 + 6 // log audit, informational
		if rec.Event.Type == flows.EventGrantMissing {
			pri = 13*8 + 4 // warning
		}
		if m.pri != pri || m.host != "jitbot-0" || m.app != "jitbot-test" || m.procID != "-" || m.msgID != string(rec.Event.Type) || m.sdID != auditsink.SDID {
			t.Fatalf("message %d header: %+v", i, m)
		}
		for k, v := range want {
			if m.params[k] != v {
				t.Fatalf("message %d: SD param %s=%q, want %q", i, k, m.params[k], v)
			}
		}
		var ev auditsink.Event
		if err := json.Unmarshal([]byte(m.msg), &ev); err != nil {
			t.Fatalf("message %d: MSG is not the event's JSON: %v", i, err)
		}
		if ev.Seq != rec.Seq || ev.Message != rec.Event.Message || ev.Hash != rec.Hash {
			t.Fatalf("message %d: MSG %+v, want record %+v", i, ev, rec)
		}
	}
	if got := msgs[5].params["id"]; got == "" || msgs[5].msgID != "grant_missing" || msgs[5].pri != 13*8+4 {
		t.Fatalf("the warning: %+v", msgs[5])
	}
}

func TestSyslogReconnectsAfterTheReceiverHangsUp(t *testing.T) {
	p := newPKI(t)
	r := newSyslogReceiver(t, p)
	clock := flowstest.NewClock(t0)
	b := flowstest.NewStore()
	s := newStreamer(t, "logs", newSyslog(t, p, r.ln.Addr().String()), b, b, clock)
	appendN(t, b, 0, 2, t0)
	drain(t, s)
	r.received(2)
	r.hangUp() // the receiver restarts: the open connection is gone
	appendN(t, b, 2, 2, t0)
	for range 20 {
		if _, err := s.Step(context.Background()); err == nil {
			break
		}
		clock.Advance(10 * time.Minute) // past any backoff
	}
	msgs := r.received(4)
	if len(msgs) != 4 || msgs[2].params["seq"] != "3" || msgs[3].params["seq"] != "4" {
		t.Fatalf("after the hang-up the receiver has %d messages: %+v", len(msgs), msgs)
	}
}

func TestSyslogRefusesAReceiverItCannotVerify(t *testing.T) {
	p := newPKI(t)
	r := newSyslogReceiver(t, p)
	other := newPKI(t) // trusts another CA
	s := newSyslog(t, other, r.ln.Addr().String())
	err := s.Send(context.Background(), []auditsink.Event{{ID: "c-1", Seq: 1, Hash: "h", At: t0, Type: "submitted"}})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("send to a receiver of an unknown CA: %v, want x509.UnknownAuthorityError", err)
	}
}
