package spec

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Defaults filled into a plan.
const (
	defaultMode  = 0o644
	defaultOwner = "root:root"
)

// expand merges a valid image definition and its valid profiles, in order, into a Plan. dir
// is the image definition's directory, which its paths are relative to.
func expand(img *Image, dir string, mirror *Mirror, profiles []profileFile) (*Plan, error) {
	p := &Plan{
		Name:            img.Name,
		Release:         img.Release,
		Architecture:    cmp.Or(img.Architecture, Architectures[0]),
		SourceDateEpoch: img.SourceDateEpoch,
		KernelPackage:   img.Kernel.Package,
		Cmdline:         slices.Clone(img.Kernel.Cmdline),
		InitrdModules:   slices.Clone(img.Kernel.InitrdModules),
		RootFSType:      img.RootFS.Type,
		Compression:     cmp.Or(img.RootFS.Compression, compressions[img.RootFS.Type][0]),
		Exclude:         slices.Clone(img.RootFS.Exclude),
		Include:         slices.Clone(img.RootFS.Include),
		Formats:         slices.Clone(img.Formats),
	}
	if len(p.Formats) == 0 {
		p.Formats = slices.Clone(DefaultFormats)
	}
	var pkgs []string
	if d := img.Kernel.Deb; d != nil {
		if d.pkg == nil {
			return nil, fmt.Errorf("kernel.deb %s: not validated", d.Path) // ValidateImage reads it
		}
		p.KernelPackage = d.pkg.Package
		p.KernelDeb = &PlanKernelDeb{Path: d.Path, File: filepath.Join(dir, filepath.FromSlash(d.Path)), SHA256: d.SHA256,
			Package: d.pkg.Package, Version: d.pkg.Version, Architecture: d.pkg.Architecture, Release: d.pkg.Kernels[0]}
	} else {
		pkgs = append(pkgs, img.Kernel.Package)
	}
	components := img.Components
	if len(components) == 0 {
		components = []string{"main"}
	}
	for _, s := range img.Suites {
		uri := mirror.Debian
		if strings.HasSuffix(s, "-security") {
			uri = mirror.Security
			if uri == "" {
				return nil, fmt.Errorf("%w: no apt source of the build machine serves %s: set mirror.security in the image definition", ErrNoSource, s)
			}
		}
		p.Sources = append(p.Sources, Source{URI: uri, Suite: s, Components: slices.Clone(components)})
	}
	var err error
	sizes := []struct {
		dst *int64
		s   string
	}{{&p.ESPSize, img.Disk.ESPSize}, {&p.RootSize, img.Disk.RootSize}, {&p.VeritySize, img.Disk.VeritySize}, {&p.StateMinSize, img.Disk.StateMinSize}}
	for _, sz := range sizes {
		if sz.s != "" {
			if *sz.dst, err = ParseSize(sz.s); err != nil {
				return nil, err // cannot happen after validation
			}
		}
	}
	if p.VeritySize == 0 {
		p.VeritySize = roundUp((p.RootSize+63)/64, MiB)
	}

	pkgs = append(pkgs, img.Packages...)
	for _, pf := range profiles {
		prof := pf.prof
		p.Profiles = append(p.Profiles, prof.Name)
		pkgs = append(pkgs, prof.Packages...)
		p.Cmdline = append(p.Cmdline, prof.Cmdline...)
		if err := p.addFiles(filepath.Dir(pf.path), prof.Files); err != nil {
			return nil, fmt.Errorf("profile %s: %w", pf.path, err)
		}
		p.applyServices(prof.Services)
		if prof.Firewall != nil {
			if p.Firewall == nil {
				p.Firewall = &Firewall{TCP: []int{}, UDP: []int{}}
			}
			p.Firewall.TCP = append(p.Firewall.TCP, prof.Firewall.TCP...)
			p.Firewall.UDP = append(p.Firewall.UDP, prof.Firewall.UDP...)
		}
		if prof.Docker != nil {
			p.Docker = mergeDocker(p.Docker, prof.Docker)
		}
		if a := prof.Audit; a != nil {
			p.Audit.CISLevel1Min = cmp.Or(a.CISLevel1Min, p.Audit.CISLevel1Min)
			p.Audit.CISLevel2Min = cmp.Or(a.CISLevel2Min, p.Audit.CISLevel2Min)
			if a.Waivers != "" {
				p.Audit.Waivers = append(p.Audit.Waivers, WaiverFile{Profile: prof.Name, Source: a.Waivers,
					Path: filepath.Join(filepath.Dir(pf.path), filepath.FromSlash(a.Waivers))})
			}
		}
	}
	if d := p.Docker; d != nil {
		// The daemon, its unit drop-in, the containers' slice and containerd's configuration come
		// with the docker section.
		pkgs = append(pkgs, DockerPackage)
		p.Files = slices.DeleteFunc(p.Files, func(f PlanFile) bool { return slices.Contains(dockerRendered, f.Path) })
		p.Files = append(p.Files,
			PlanFile{Path: DockerDaemonJSON, Mode: 0o644, Owner: defaultOwner, Data: RenderDockerDaemon(d)},
			PlanFile{Path: DockerDropIn, Mode: 0o644, Owner: defaultOwner, Data: RenderDockerDropIn(d)},
			PlanFile{Path: ContainersSlicePath, Mode: 0o644, Owner: defaultOwner, Data: RenderContainersSlice(d)},
			PlanFile{Path: ContainerdConfig, Mode: 0o644, Owner: defaultOwner, Data: RenderContainerdConfig()})
		p.applyServices(Services{Enable: []string{"containerd.service", "docker.socket", "docker.service"}})
		if d.TCPPort != 0 && p.Firewall != nil {
			p.Firewall.TCP = append(p.Firewall.TCP, d.TCPPort)
		}
	}
	if fw := p.Firewall; fw != nil {
		slices.Sort(fw.TCP)
		fw.TCP = slices.Compact(fw.TCP)
		slices.Sort(fw.UDP)
		fw.UDP = slices.Compact(fw.UDP)
		// The rules file, the package that loads it and its unit come with the firewall.
		p.Files = slices.DeleteFunc(p.Files, func(f PlanFile) bool { return f.Path == NftablesConf })
		p.Files = append(p.Files, PlanFile{Path: NftablesConf, Mode: 0o600, Owner: defaultOwner, Data: []byte(RenderNftables(fw, p.Docker))})
		pkgs = append(pkgs, "nftables")
		p.applyServices(Services{Enable: []string{"nftables.service"}})
	}
	slices.Sort(pkgs)
	p.Packages = slices.Compact(pkgs)
	return p, nil
}

// addFiles resolves files; one with the path of an earlier file replaces it in its place.
func (p *Plan) addFiles(dir string, files []File) error {
	for _, f := range files {
		pf := PlanFile{Path: f.Path, Mode: defaultMode, Owner: cmp.Or(f.Owner, defaultOwner), Data: []byte(f.Content)}
		if f.Mode != "" {
			m, err := parseMode(f.Mode)
			if err != nil {
				return err
			}
			pf.Mode = m
		}
		if f.Source != "" {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Source)))
			if err != nil {
				return fmt.Errorf("read file source: %w", err)
			}
			pf.Data = data
		}
		if i := slices.IndexFunc(p.Files, func(o PlanFile) bool { return o.Path == f.Path }); i >= 0 {
			p.Files[i] = pf
		} else {
			p.Files = append(p.Files, pf)
		}
	}
	return nil
}

// applyServices applies one profile's units: a later profile's choice for a unit replaces an
// earlier one's (enabling a unit an earlier profile masked unmasks it).
func (p *Plan) applyServices(s Services) {
	lists := []*[]string{&p.Enable, &p.Disable, &p.Mask}
	for i, units := range [][]string{s.Enable, s.Disable, s.Mask} {
		for _, u := range units {
			for j, l := range lists {
				if i != j {
					*l = slices.DeleteFunc(*l, func(o string) bool { return o == u })
				}
			}
			if !slices.Contains(*lists[i], u) {
				*lists[i] = append(*lists[i], u)
			}
		}
	}
}
