package creds

import (
	"crypto/x509"
	"time"

	"github.com/mantlet/mantlet/internal/pki"
)

func verify(bundle, cert []byte, at time.Time) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	c, err := pki.ParseCert(cert)
	if err != nil {
		return err
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}
