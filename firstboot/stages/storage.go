package stages

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/accounts"
	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/rootfs"
)

func init() { Register(20, storageStage{}) }

// storageStage writes storage.directories, storage.files and storage.links.
type storageStage struct{}

func (storageStage) Name() string { return "storage" }

type nodeKind int

const (
	kindDir nodeKind = iota
	kindFile
	kindLink
)

// node is one directory, file or link, decoded and checked.
type node struct {
	kind      nodeKind
	at        string // JSON path of the entry
	path      string
	overwrite bool
	mode      *fs.FileMode
	user      types.NodeUser
	group     types.NodeGroup

	// files
	hasSource bool   // contents.source given
	contents  []byte // decoded contents
	appends   []byte // decoded append fragments, joined

	// links
	target string
	hard   bool
}

func (storageStage) Prepare(ctx context.Context, env *Env, cfg types.Config) (Action, error) {
	nodes, err := storageNodes(cfg.Storage, func(r types.Resource) ([]byte, error) { return env.contents(ctx, r) })
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	db, err := accounts.Load(env.FS)
	if err != nil {
		return nil, err
	}
	defs, err := accounts.LoadDefs(env.FS)
	if err != nil {
		return nil, err
	}
	names := newNames(cfg.Passwd, db, defs)
	for _, n := range nodes {
		if err := names.check(n.at, n.user, n.group); err != nil {
			return nil, err
		}
	}
	return func(context.Context) error {
		db, err := accounts.Load(env.FS)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			own, err := owner(db, n.at, n.user, n.group)
			if err != nil {
				return err
			}
			if err := n.apply(env.FS, env.Journal, own); err != nil {
				return fmt.Errorf("%s: %w", n.at, err)
			}
		}
		env.logf("stage storage: %d directories, %d files, %d links",
			len(cfg.Storage.Directories), len(cfg.Storage.Files), len(cfg.Storage.Links))
		return nil
	}, nil
}

// storageNodes decodes every entry (contents gets the bytes of a resource) and puts them in
// the order they are made.
func storageNodes(st types.Storage, contents func(types.Resource) ([]byte, error)) ([]node, error) {
	var nodes []node
	for i, d := range st.Directories {
		n := node{kind: kindDir, at: config.Path("storage", "directories", i), path: d.Path,
			overwrite: isTrue(d.Overwrite), mode: mode(d.Mode), user: d.User, group: d.Group}
		nodes = append(nodes, n)
	}
	for i, f := range st.Files {
		n := node{kind: kindFile, at: config.Path("storage", "files", i), path: f.Path,
			overwrite: isTrue(f.Overwrite), mode: mode(f.Mode), user: f.User, group: f.Group,
			hasSource: f.Contents.Source != nil}
		var err error
		if n.contents, err = contents(f.Contents); err != nil {
			return nil, fmt.Errorf("%s.contents: %w", n.at, err)
		}
		for j, a := range f.Append {
			b, err := contents(a)
			if err != nil {
				return nil, fmt.Errorf("%s.append[%d]: %w", n.at, j, err)
			}
			n.appends = append(n.appends, b...)
		}
		nodes = append(nodes, n)
	}
	for i, l := range st.Links {
		n := node{kind: kindLink, at: config.Path("storage", "links", i), path: l.Path,
			overwrite: isTrue(l.Overwrite), user: l.User, group: l.Group, hard: isTrue(l.Hard)}
		if l.Target == nil || *l.Target == "" {
			return nil, fmt.Errorf("%s.target: missing", n.at)
		}
		n.target = *l.Target
		if n.hard {
			if err := rootfs.CheckPath(n.target); err != nil {
				return nil, fmt.Errorf("%s.target: %w", n.at, err)
			}
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := rootfs.CheckPath(n.path); err != nil {
			return nil, fmt.Errorf("%s.path: %w", n.at, err)
		}
		if strings.Trim(n.path, "/") == "" {
			return nil, fmt.Errorf("%s.path: is the root directory", n.at)
		}
	}
	// parents before children; hard links after everything, as their targets may be
	// created by this config
	sort.SliceStable(nodes, func(i, j int) bool {
		if nodes[i].hard != nodes[j].hard {
			return nodes[j].hard
		}
		return depth(nodes[i].path) < depth(nodes[j].path)
	})
	return nodes, nil
}

func depth(p string) int { return strings.Count(strings.Trim(p, "/"), "/") }

func mode(m *int) *fs.FileMode {
	if m == nil {
		return nil
	}
	fm := rootfs.Mode(*m)
	return &fm
}
