package resource

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// proxyFunc implements ignition.proxy: httpProxy for http: requests, httpsProxy for https:,
// none for a host that noProxy names ("*" for all, a domain with its subdomains, an IP
// address or a CIDR block). nil when the config names no proxy.
func proxyFunc(p types.Proxy) func(*http.Request) (*url.URL, error) {
	if isEmpty(p.HTTPProxy) && isEmpty(p.HTTPSProxy) {
		return nil
	}
	return func(r *http.Request) (*url.URL, error) {
		raw := p.HTTPProxy
		if r.URL.Scheme == "https" {
			raw = p.HTTPSProxy
		}
		if isEmpty(raw) || noProxy(r.URL.Hostname(), p.NoProxy) {
			return nil, nil
		}
		u, err := url.Parse(*raw)
		if err != nil {
			return nil, errBadProxy
		}
		return u, nil
	}
}

var errBadProxy = &url.Error{Op: "proxy", URL: "(proxy)", Err: net.InvalidAddrError("bad proxy URL")}

func isEmpty(s *string) bool { return s == nil || *s == "" }

func noProxy(host string, items []types.NoProxyItem) bool {
	host = strings.ToLower(host)
	ip := net.ParseIP(host)
	for _, it := range items {
		s := strings.ToLower(strings.TrimSpace(string(it)))
		if s == "*" {
			return true
		}
		if ip != nil {
			if _, n, err := net.ParseCIDR(s); err == nil && n.Contains(ip) {
				return true
			}
			if other := net.ParseIP(s); other != nil && other.Equal(ip) {
				return true
			}
			continue
		}
		s = strings.TrimPrefix(s, ".")
		if s != "" && (host == s || strings.HasSuffix(host, "."+s)) {
			return true
		}
	}
	return false
}
