package resource

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"golang.org/x/net/http/httpproxy"
)

// proxyFunc implements ignition.proxy as Ignition does, with golang.org/x/net/http/httpproxy:
// httpProxy for http: requests, httpsProxy for https:, none for loopback and for a host that
// noProxy names (comma-joined, NO_PROXY's syntax: "*"; a domain with its subdomains, or with
// a leading "." its subdomains only; an IP address or a CIDR block; either with a ":port" that
// must match too). nil when the config names no proxy.
func proxyFunc(p types.Proxy) func(*http.Request) (*url.URL, error) {
	if isEmpty(p.HTTPProxy) && isEmpty(p.HTTPSProxy) {
		return nil
	}
	items := make([]string, len(p.NoProxy))
	for i, it := range p.NoProxy {
		items[i] = string(it)
	}
	cfg := httpproxy.Config{HTTPProxy: deref(p.HTTPProxy), HTTPSProxy: deref(p.HTTPSProxy), NoProxy: strings.Join(items, ",")}
	// the config's validation has refused proxy URLs that do not parse
	f := cfg.ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return f(r.URL) }
}

func isEmpty(s *string) bool { return s == nil || *s == "" }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
