package creds

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Show prints what a store holds from its public manifest: the cluster, the CAs and nodes
// with fingerprints and expiry, and the names of the secrets. No secret value, no key needed.
func Show(w io.Writer, m Manifest, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	enc := "passphrase (scrypt)"
	if len(m.Recipients) > 0 {
		enc = fmt.Sprintf("%d age recipients", len(m.Recipients))
	}
	fmt.Fprintf(tw, "cluster\t%s\ndatacenter\t%s\ndomain\t%s\nencrypted to\t%s\n", m.Cluster, m.Datacenter, m.Domain, enc)
	if p := m.Permitted; p != nil {
		fmt.Fprintf(tw, "CA may sign\tDNS %s; addresses %s\n", strings.Join(p.DNS, ", "), strings.Join(p.IPs, ", "))
	} else {
		fmt.Fprintf(tw, "CA may sign\tanything (made before name constraints: rotate ca to constrain it)\n")
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "CA\tFINGERPRINT\tEXPIRES\t\n")
	for i, ca := range m.CAs {
		state := "trusted"
		if i == len(m.CAs)-1 {
			state = "signing"
		}
		fmt.Fprintf(tw, "%s (%s)\t%s\t%s\t%s\n", m.KeyType, state, ca.Fingerprint, ca.NotAfter.Format(time.DateOnly), expiry(ca.NotAfter, now))
	}
	fmt.Fprintf(tw, "\nNODE\tROLE\tIPS\tSERIAL\tFINGERPRINT\tEXPIRES\t\n")
	for _, n := range m.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, strings.Join(n.IPs, ","), n.Serial, n.Fingerprint, n.NotAfter.Format(time.DateOnly), expiry(n.NotAfter, now))
	}
	fmt.Fprintf(tw, "\nSECRETS\tROTATED\tWHAT\n")
	for _, k := range Kinds {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k, m.Rotated[k].Format(time.DateOnly), strings.Join(secretNames(k), ", "))
	}
	return tw.Flush()
}

func expiry(t, now time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return "EXPIRED"
	}
	return fmt.Sprintf("in %d days", int(d.Hours()/24))
}

func secretNames(k Kind) []string {
	switch k {
	case KindCA:
		return []string{"CA private keys"}
	case KindNodeCerts:
		return []string{"node private keys"}
	case KindGossip:
		return []string{"consul gossip key"}
	case KindTokens:
		return prefixed("consul token ", TokenNames)
	case KindZooKeeper:
		return prefixed("zookeeper ", ZooKeeperUsers)
	case KindMesos:
		return prefixed("mesos ", MesosPrincipals)
	case KindWeb:
		return []string{"marathon http " + MarathonUser, "web " + WebUser + " (bcrypt htpasswd)"}
	}
	return nil
}

func prefixed(p string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, p+n)
	}
	return out
}

// Reveal prints every secret value but the private keys, one "name<TAB>value" a line.
// Only `mantlet creds show --reveal` calls it.
func Reveal(w io.Writer, s *Secrets) error {
	lines := []string{"consul.gossip\t" + s.Gossip}
	for _, n := range TokenNames {
		lines = append(lines, "consul.token."+n+"\t"+s.ConsulTokens[n])
	}
	for _, u := range ZooKeeperUsers {
		lines = append(lines, "zookeeper."+u+"\t"+s.ZooKeeper[u])
		lines = append(lines, "zookeeper."+u+".digest\t"+u+":"+ZooKeeperDigest(u, s.ZooKeeper[u]))
	}
	for _, p := range MesosPrincipals {
		lines = append(lines, "mesos."+p+"\t"+s.Mesos[p])
	}
	lines = append(lines, "marathon.http."+MarathonUser+"\t"+s.MarathonPassword, "web."+WebUser+"\t"+s.WebPassword, "web.htpasswd\t"+s.WebHtpasswd)
	slices.Sort(lines)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// ShowJSONSchema names the layout of ShowJSON's document.
const ShowJSONSchema = "mantlet.creds-show/v1"

// ShowJSON writes what Show prints as one JSON document: public material only.
func ShowJSON(w io.Writer, m Manifest, now time.Time) error {
	type ca struct {
		Fingerprint string    `json:"fingerprint"`
		KeyType     string    `json:"key_type"`
		Signing     bool      `json:"signing"`
		NotAfter    time.Time `json:"not_after"`
		Expired     bool      `json:"expired"`
	}
	type node struct {
		Name        string    `json:"name"`
		Role        string    `json:"role"`
		IPs         []string  `json:"ips"`
		DNS         []string  `json:"dns"`
		Serial      string    `json:"serial"`
		Fingerprint string    `json:"fingerprint"`
		Issued      time.Time `json:"issued"`
		NotAfter    time.Time `json:"not_after"`
		Expired     bool      `json:"expired"`
	}
	type secret struct {
		Kind    Kind      `json:"kind"`
		Rotated time.Time `json:"rotated"`
		Names   []string  `json:"names"`
	}
	out := struct {
		Schema     string     `json:"schema"`
		Cluster    string     `json:"cluster"`
		Datacenter string     `json:"datacenter"`
		Domain     string     `json:"domain"`
		Recipients []string   `json:"recipients"` // none: a passphrase
		Permitted  *Permitted `json:"permitted"`  // null: a CA made before name constraints
		CAs        []ca       `json:"cas"`
		Nodes      []node     `json:"nodes"`
		Secrets    []secret   `json:"secrets"`
	}{Schema: ShowJSONSchema, Cluster: m.Cluster, Datacenter: m.Datacenter, Domain: m.Domain,
		Recipients: append([]string{}, m.Recipients...), Permitted: m.Permitted, CAs: []ca{}, Nodes: []node{}, Secrets: []secret{}}
	for i, c := range m.CAs {
		out.CAs = append(out.CAs, ca{Fingerprint: c.Fingerprint, KeyType: m.KeyType, Signing: i == len(m.CAs)-1, NotAfter: c.NotAfter, Expired: c.NotAfter.Before(now)})
	}
	for _, n := range m.Nodes {
		out.Nodes = append(out.Nodes, node{Name: n.Name, Role: n.Role, IPs: n.IPs, DNS: append([]string{}, n.DNS...), Serial: n.Serial,
			Fingerprint: n.Fingerprint, Issued: n.Issued, NotAfter: n.NotAfter, Expired: n.NotAfter.Before(now)})
	}
	for _, k := range Kinds {
		out.Secrets = append(out.Secrets, secret{Kind: k, Rotated: m.Rotated[k], Names: secretNames(k)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
