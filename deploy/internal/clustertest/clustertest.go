// Package clustertest lays out deploy/cluster's three-node configuration in
// a temporary directory for tests: certificates made for 127.0.0.1, free
// ports, the store and TLS paths rewritten, and a password for each user of
// the table of rights, hashed as an operator gives it to the nodes.
package clustertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
)

// Nodes is how many nodes deploy/cluster configures.
const Nodes = 3

// Layout is the cluster's configuration written out under Dir.
type Layout struct {
	Dir    string
	TLSDir string // ca.pem, server.pem, server-key.pem
	// Conf[i] is node i+1's configuration file; Store[i] its store directory.
	Conf, Store []string
	// ClientPorts, RoutePorts and HTTPPorts are node i+1's listen ports
	// (HTTPPorts: its monitoring endpoint, /healthz and /jsz).
	ClientPorts, RoutePorts, HTTPPorts []int
}

// URLs are the client URLs of the three nodes, comma-separated, as
// services are given them.
func (l Layout) URLs() string {
	var u []string
	for _, p := range l.ClientPorts {
		u = append(u, fmt.Sprintf("tls://127.0.0.1:%d", p))
	}
	return strings.Join(u, ",")
}

// URL is node i's client URL (i from 0).
func (l Layout) URL(i int) string { return fmt.Sprintf("tls://127.0.0.1:%d", l.ClientPorts[i]) }

// CA is the file of the certificate authority the nodes' certificates are signed by.
func (l Layout) CA() string { return filepath.Join(l.TLSDir, "ca.pem") }

// StoreKey is node i's store key (i from 0), 64 hex digits as an operator
// puts in CRISISBUS_STORE_KEY.
func StoreKey(i int) string { return fmt.Sprintf("%064x", (i+1)*7919) }

// Write lays out the configuration of deploy/cluster (read from clusterDir)
// under dir: ports and paths rewritten, certificates generated, users.conf
// copied. withHTTP keeps each node's monitoring endpoint, on a free port.
func Write(clusterDir, dir string, withHTTP bool) (Layout, error) {
	l := Layout{Dir: dir, TLSDir: filepath.Join(dir, "tls")}
	if err := WriteCerts(l.TLSDir); err != nil {
		return l, err
	}
	users, err := os.ReadFile(filepath.Join(clusterDir, "users.conf"))
	if err != nil {
		return l, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.conf"), users, 0o600); err != nil {
		return l, err
	}
	ports, err := FreePorts(3 * Nodes)
	if err != nil {
		return l, err
	}
	l.ClientPorts, l.RoutePorts, l.HTTPPorts = ports[:Nodes], ports[Nodes:2*Nodes], ports[2*Nodes:]
	for i := 1; i <= Nodes; i++ {
		conf, err := os.ReadFile(filepath.Join(clusterDir, fmt.Sprintf("nats-%d.conf", i)))
		if err != nil {
			return l, err
		}
		store := filepath.Join(dir, fmt.Sprintf("js-%d", i))
		http := ""
		if withHTTP {
			http = fmt.Sprintf("http: 127.0.0.1:%d", l.HTTPPorts[i-1])
		}
		r := strings.NewReplacer(
			"/etc/crisisbus/tls/", l.TLSDir+"/",
			"/var/lib/crisisbus/jetstream", store,
			"listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", l.ClientPorts[i-1]),
			"listen: 0.0.0.0:6222", fmt.Sprintf("listen: 127.0.0.1:%d", l.RoutePorts[i-1]),
			"http: 127.0.0.1:8222", http,
			"crisisbus-1:6222", fmt.Sprintf("127.0.0.1:%d", l.RoutePorts[0]),
			"crisisbus-2:6222", fmt.Sprintf("127.0.0.1:%d", l.RoutePorts[1]),
			"crisisbus-3:6222", fmt.Sprintf("127.0.0.1:%d", l.RoutePorts[2]),
		)
		file := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i))
		if err := os.WriteFile(file, []byte(r.Replace(string(conf))), 0o600); err != nil {
			return l, err
		}
		l.Conf, l.Store = append(l.Conf, file), append(l.Store, store)
	}
	return l, nil
}

// Passwords makes a password for each user of the table of rights: the
// plain passwords the services use, and the environment (each user's
// bcrypt hash under rights.PasswordEnv) the nodes read users.conf with.
func Passwords() (broker.Credentials, map[string]string, error) {
	creds, env := broker.Credentials{}, map[string]string{}
	for _, u := range rights.Users() {
		creds[u] = "pw-" + u
		h, err := bcrypt.GenerateFromPassword([]byte(creds[u]), bcrypt.MinCost)
		if err != nil {
			return nil, nil, err
		}
		env[rights.PasswordEnv(u)] = string(h)
	}
	return creds, env, nil
}

// FreePorts returns n ports free on 127.0.0.1 a moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// WriteCerts makes a CA and one server certificate (for 127.0.0.1 and the
// node names) in dir, as ca.pem, server.pem and server-key.pem.
func WriteCerts(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crisisbus test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "crisisbus"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames:    []string{"localhost", "crisisbus-1", "crisisbus-2", "crisisbus-3"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name, typ string
		b         []byte
	}{{"ca.pem", "CERTIFICATE", caDER}, {"server.pem", "CERTIFICATE", der}, {"server-key.pem", "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.b}), 0o600); err != nil {
			return err
		}
	}
	return nil
}
