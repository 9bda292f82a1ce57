// Package nodeconfig makes the Ignition config that carries one node's share of the
// cluster's credentials to mantlet-firstboot: only what the node's role needs, each file
// with the owner and mode its component expects. The same input gives the same bytes.
package nodeconfig

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/coreos/ignition/v2/config/v3_6"

	fbconfig "github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/internal/creds"
)

// Errors of the package.
var (
	ErrNoControl = errors.New("no control node issued yet: issue the control nodes first (their addresses go into every config)")
	ErrInvalid   = errors.New("generated config does not validate")
	ErrMerge     = errors.New("cannot merge")
)

// ZooKeeperPort is the client port of the ensemble.
const ZooKeeperPort = 2181

// Input is everything a node's config is made from.
type Input struct {
	Cluster    string
	Datacenter string
	Domain     string
	Node       creds.Node
	NodeKey    []byte
	CABundle   []byte
	Controls   []creds.Node // every control node, for join addresses and the ensemble
	Secrets    *creds.Secrets
	Network    Network // how the cluster interface gets its address; zero: DHCP
}

// FromStore picks a node's input out of an opened store.
func FromStore(s *creds.Store, node string) (Input, error) {
	n, ok := s.Node(node)
	if !ok {
		return Input{}, fmt.Errorf("%w %q (issue it first)", creds.ErrUnknownNode, node)
	}
	in := Input{
		Cluster: s.Manifest.Cluster, Datacenter: s.Manifest.Datacenter, Domain: s.Manifest.Domain,
		Node: n, NodeKey: s.Secrets.NodeKeys[node], CABundle: s.CABundle(), Secrets: s.Secrets,
	}
	for _, c := range s.Manifest.Nodes {
		if c.Role == creds.RoleControl {
			in.Controls = append(in.Controls, c)
		}
	}
	return in, nil
}

// Facts is /etc/mantlet/node.json: who the node is and where its cluster is.
type Facts struct {
	Name        string   `json:"name"`
	Role        string   `json:"role"`
	Cluster     string   `json:"cluster"`
	Datacenter  string   `json:"datacenter"`
	Domain      string   `json:"domain"`
	IPs         []string `json:"ips"`
	ServerName  string   `json:"consul_server_name"`
	ConsulJoin  []string `json:"consul_join"`
	ZooKeeper   []string `json:"zookeeper"`
	MesosAgent  string   `json:"mesos_agent_principal"`
	MarathonFwk string   `json:"marathon_mesos_principal"`
}

type file struct {
	path  string
	mode  int
	group string // "" root
	data  string
}

// Paths of what a config writes.
const (
	HostnamePath      = "/etc/hostname"
	FactsPath         = "/etc/mantlet/node.json"
	CAPath            = "/etc/mantlet/tls/ca.pem"
	CertPath          = "/etc/mantlet/tls/node.pem"
	KeyPath           = "/etc/mantlet/tls/node-key.pem"
	ConsulSecretsPath = "/etc/consul.d/secrets.hcl"
	TemplateTokenPath = "/etc/mantlet/secrets/consul-template.token"
	HtpasswdPath      = "/etc/nginx/htpasswd"
	MesosZKPath       = "/etc/mesos/zk"
	AgentCredPath     = "/etc/mesos-slave/credential"
	MasterCredsPath   = "/etc/mesos-master/credentials"
	ZooKeeperEnvPath  = "/etc/mantlet/secrets/zookeeper.env"
	MarathonEnvPath   = "/etc/mantlet/secrets/marathon.env"
	MarathonMesosPath = "/etc/mantlet/secrets/marathon-mesos.secret"
	MesosTokenPath    = "/etc/mantlet/secrets/consul-mesos.token"
)

// files lists what the node gets, by role.
func files(in Input) ([]file, error) {
	if len(in.Controls) == 0 {
		return nil, ErrNoControl
	}
	s := in.Secrets
	control := in.Node.Role == creds.RoleControl
	var join, ensemble []string
	for _, c := range in.Controls {
		join = append(join, c.IPs[0])
		ensemble = append(ensemble, fmt.Sprintf("%s:%d", hostPort(c.IPs[0]), ZooKeeperPort))
	}
	zk := strings.Join(ensemble, ",")
	netFile, err := clusterNetwork(in)
	if err != nil {
		return nil, err
	}
	facts, err := json.MarshalIndent(Facts{
		Name: in.Node.Name, Role: in.Node.Role, Cluster: in.Cluster, Datacenter: in.Datacenter, Domain: in.Domain,
		IPs: in.Node.IPs, ServerName: "server." + in.Datacenter + "." + in.Domain, ConsulJoin: join, ZooKeeper: ensemble,
		MesosAgent: "agent", MarathonFwk: "marathon",
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
	consul := fmt.Sprintf("encrypt = %q\nacl {\n  tokens {\n    agent = %q\n", s.Gossip, s.ConsulTokens["agent"])
	if control {
		consul += fmt.Sprintf("    initial_management = %q\n", s.ConsulTokens["initial-management"])
	}
	consul += "  }\n}\n"
	fs := []file{
		{HostnamePath, 0o644, "", in.Node.Name + "\n"},
		{FactsPath, 0o644, "", string(facts) + "\n"},
		{CAPath, 0o644, "", string(in.CABundle)},
		{CertPath, 0o644, "", in.Node.CertPEM},
		{KeyPath, 0o640, "consul", string(in.NodeKey)},
		{ConsulSecretsPath, 0o640, "consul", consul},
		{TemplateTokenPath, 0o600, "", s.ConsulTokens["consul-template"] + "\n"},
		{HtpasswdPath, 0o640, "www-data", s.WebHtpasswd + "\n"},
		{MesosZKPath, 0o600, "", fmt.Sprintf("zk://mesos:%s@%s/mesos\n", s.ZooKeeper["mesos"], zk)},
	}
	if netFile != nil {
		fs = append(fs, *netFile)
	}
	if !control {
		cred, _ := json.Marshal(map[string]string{"principal": "agent", "secret": s.Mesos["agent"]})
		return append(fs, file{AgentCredPath, 0o600, "", string(cred) + "\n"}), nil
	}
	type mc struct {
		Principal string `json:"principal"`
		Secret    string `json:"secret"`
	}
	var list []mc
	for _, p := range creds.MesosPrincipals {
		list = append(list, mc{p, s.Mesos[p]})
	}
	masterCreds, _ := json.MarshalIndent(map[string][]mc{"credentials": list}, "", "  ")
	marathon := fmt.Sprintf("MARATHON_ZK=zk://marathon:%s@%s/marathon\nMARATHON_MESOS_AUTHENTICATION_PRINCIPAL=marathon\nMARATHON_MESOS_AUTHENTICATION_SECRET_FILE=%s\nMARATHON_HTTP_CREDENTIALS=%s:%s\nCONSUL_HTTP_TOKEN=%s\n",
		s.ZooKeeper["marathon"], zk, MarathonMesosPath, "marathon", s.MarathonPassword, s.ConsulTokens["marathon"])
	superDigest := "super:" + zkDigest(s)
	return append(fs,
		file{MasterCredsPath, 0o600, "", string(masterCreds) + "\n"},
		file{ZooKeeperEnvPath, 0o640, "zookeeper", fmt.Sprintf("SERVER_JVMFLAGS=\"-Dzookeeper.DigestAuthenticationProvider.superDigest=%s\"\n", superDigest)},
		file{MarathonEnvPath, 0o640, "marathon", marathon},
		file{MarathonMesosPath, 0o640, "marathon", s.Mesos["marathon"]},
		file{MesosTokenPath, 0o600, "", s.ConsulTokens["mesos"] + "\n"},
	), nil
}

func zkDigest(s *creds.Secrets) string { return creds.ZooKeeperDigest("super", s.ZooKeeper["super"]) }

func hostPort(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

func ptr[T any](v T) *T { return &v }

// Build makes the node's config as Ignition 3.5 types.
func Build(in Input) (types.Config, error) {
	fs, err := files(in)
	if err != nil {
		return types.Config{}, err
	}
	slices.SortFunc(fs, func(a, b file) int { return strings.Compare(a.path, b.path) })
	cfg := types.Config{Ignition: types.Ignition{Version: types.MaxVersion.String()}}
	for _, d := range []struct {
		path string
		mode int
	}{{"/etc/mantlet", 0o755}, {"/etc/mantlet/secrets", 0o755}, {"/etc/mantlet/tls", 0o755}} {
		cfg.Storage.Directories = append(cfg.Storage.Directories, types.Directory{
			Node:               types.Node{Path: d.path, User: types.NodeUser{ID: ptr(0)}, Group: types.NodeGroup{ID: ptr(0)}},
			DirectoryEmbedded1: types.DirectoryEmbedded1{Mode: ptr(d.mode)},
		})
	}
	// The components' groups are made by the config itself (as system groups), so that the
	// agent can give them their files before the component packages exist on the node.
	// www-data comes with Debian's base-passwd.
	var groups []string
	for _, f := range fs {
		if f.group != "" && f.group != "www-data" && !slices.Contains(groups, f.group) {
			groups = append(groups, f.group)
		}
	}
	slices.Sort(groups)
	for _, name := range groups {
		cfg.Passwd.Groups = append(cfg.Passwd.Groups, types.PasswdGroup{Name: name, System: ptr(true)})
	}
	for _, f := range fs {
		g := types.NodeGroup{ID: ptr(0)}
		if f.group != "" {
			g = types.NodeGroup{Name: ptr(f.group)}
		}
		cfg.Storage.Files = append(cfg.Storage.Files, types.File{
			Node: types.Node{Path: f.path, Overwrite: ptr(true), User: types.NodeUser{ID: ptr(0)}, Group: g},
			FileEmbedded1: types.FileEmbedded1{
				Mode:     ptr(f.mode),
				Contents: types.Resource{Source: ptr("data:;base64," + base64.StdEncoding.EncodeToString([]byte(f.data)))},
			},
		})
	}
	return cfg, nil
}

// Generate makes the node's config, folds in merge (the operator's own Ignition config,
// spec 3.0 to 3.5; nil for none) and checks the result with the Ignition config packages
// and with mantlet-firstboot's own parser. It returns indented JSON.
func Generate(in Input, merge []byte) ([]byte, error) {
	cfg, err := Build(in)
	if err != nil {
		return nil, err
	}
	if len(merge) > 0 {
		if cfg, err = mergeInto(cfg, merge); err != nil {
			return nil, err
		}
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	out = append(out, '\n')
	if err := validate(out); err != nil {
		return nil, err
	}
	return out, nil
}

func validate(raw []byte) error {
	if _, rep, err := v3_6.ParseCompatibleVersion(raw); err != nil || rep.IsFatal() {
		return fmt.Errorf("%w: %v: %s", ErrInvalid, err, rep.String())
	}
	_, rep := fbconfig.Parse(raw)
	if err := rep.Err(); err != nil {
		var msgs []string
		for _, p := range rep.Errors {
			msgs = append(msgs, p.String())
		}
		return fmt.Errorf("%w for mantlet-firstboot: %s", ErrInvalid, strings.Join(msgs, "; "))
	}
	return nil
}

// mergeInto folds the operator's config into ours. A path or unit both configs define is
// an error: the operator cannot replace a credential file by accident.
func mergeInto(ours types.Config, raw []byte) (types.Config, error) {
	theirs, rep, err := v3_5ParseCompatible(raw)
	if err != nil {
		return ours, fmt.Errorf("%w: %w: %s", ErrMerge, err, rep.String())
	}
	taken := map[string]bool{}
	for _, d := range ours.Storage.Directories {
		taken[d.Path] = true
	}
	for _, f := range ours.Storage.Files {
		taken[f.Path] = true
	}
	var errs []string
	check := func(kind string, i int, p string) {
		if taken[p] {
			errs = append(errs, fmt.Sprintf("$.storage.%s[%d].path: %s is written by mantlet", kind, i, p))
		}
	}
	for i, f := range theirs.Storage.Files {
		check("files", i, f.Path)
	}
	for i, l := range theirs.Storage.Links {
		check("links", i, l.Path)
	}
	for i, d := range theirs.Storage.Directories {
		if taken[d.Path] && !bytes.Equal(mustJSON(d), mustJSON(dirOf(ours, d.Path))) {
			check("directories", i, d.Path)
		}
	}
	if len(errs) > 0 {
		return ours, fmt.Errorf("%w: %s", ErrMerge, strings.Join(errs, "; "))
	}
	return mergeConfigs(theirs, ours), nil
}

func dirOf(c types.Config, p string) types.Directory {
	for _, d := range c.Storage.Directories {
		if d.Path == p {
			return d
		}
	}
	return types.Directory{}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
