package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are PEM files for a cluster that serves TLS and asks clients for
// a certificate: a CA, the members' certificate (for 127.0.0.1) and a
// client's, each with its key.
type Certs struct {
	CA                 string
	ServerCert, Server string // certificate, key
	ClientCert, Client string // certificate, key
	OtherCA            string // a CA that signed none of them
	dir                string
}

// NewCerts writes a fresh CA and certificates under t.TempDir().
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	c := &Certs{dir: t.TempDir()}
	caKey, caCert := c.ca(t, "jitbot test CA", "ca.pem")
	c.CA = filepath.Join(c.dir, "ca.pem")
	c.ServerCert, c.Server = c.leaf(t, "etcd member", caKey, caCert, "server", x509.ExtKeyUsageServerAuth)
	c.ClientCert, c.Client = c.leaf(t, "jitbot", caKey, caCert, "client", x509.ExtKeyUsageClientAuth)
	c.ca(t, "another CA", "other-ca.pem")
	c.OtherCA = filepath.Join(c.dir, "other-ca.pem")
	return c
}

func (c *Certs) ca(t testing.TB, name, file string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("etcdtest: CA: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	c.write(t, file, "CERTIFICATE", der)
	return key, cert
}

func (c *Certs) leaf(t testing.TB, name string, caKey *ecdsa.PrivateKey, ca *x509.Certificate, file string, usage x509.ExtKeyUsage) (cert, key string) {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatalf("etcdtest: certificate: %v", err)
	}
	raw, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return c.write(t, file+".pem", "CERTIFICATE", der), c.write(t, file+"-key.pem", "EC PRIVATE KEY", raw)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("etcdtest: key: %v", err)
	}
	return k
}

func (c *Certs) write(t testing.TB, file, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, file)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
