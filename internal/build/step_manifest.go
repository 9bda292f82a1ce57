package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mantlet/mantlet/internal/spec"
)

// Manifest is out/NAME.manifest.json: what went into an image and what came out.
type Manifest struct {
	Name        string `json:"name"`
	ImageDigest string `json:"image_digest"` // sha256 of the image definition and profiles
	// Inputs is the sha256 of everything the outputs are made of: the package layer's key,
	// the plan, the first-boot agent, mantlet itself, the EFI stub and the tools. A build
	// whose inputs have this digest finds its outputs here (after checking them).
	Inputs string `json:"inputs"`
	// PackageLayer is the key of the package layer (mantlet cache list shows it).
	PackageLayer    string          `json:"package_layer"`
	Profiles        []string        `json:"profiles"`
	Release         string          `json:"release"`
	Architecture    string          `json:"architecture"`
	Sources         []spec.Source   `json:"sources"`
	SourceDateEpoch int64           `json:"source_date_epoch"`
	Kernel          KernelInfo      `json:"kernel"`
	Cmdline         string          `json:"cmdline"`
	Verity          Verity          `json:"verity"`
	RootFS          Artifact        `json:"rootfs"`
	UKI             Artifact        `json:"uki"`
	Partitions      []PartitionInfo `json:"partitions"`
	Packages        []Package       `json:"packages"`
	Outputs         []Output        `json:"outputs"`
	Tools           ToolVersions    `json:"tools"`
}

// KernelInfo names the kernel in the UKI.
type KernelInfo struct {
	// Package is kernel.package of the image definition (linux-image-amd64), or the package
	// in kernel.deb.
	Package string `json:"package"`
	Version string `json:"version"` // uname -r
	// PackageVersion is the Debian version of the linux-image package that ships it.
	PackageVersion string `json:"package_version"`
	// Deb is the custom kernel package file the kernel came from; absent for the suites'.
	Deb *KernelDebInfo `json:"deb,omitempty"`
}

// KernelDebInfo names a custom kernel package file: as the image definition gives it, and
// the sha256 checked before the build and when it was copied in.
type KernelDebInfo struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Artifact is an intermediate product, recorded by digest.
type Artifact struct {
	Type   string `json:"type,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// stepManifest records what went in and what came out, renames the outputs into the output
// directory (so that a failed build never leaves a half-written image there) and writes the
// manifest last. The outputs were digested as they were written (convert, bmap, verity): it
// reads no image.
type stepManifest struct{}

func (*stepManifest) Name() string { return "manifest" }

func (*stepManifest) Run(_ context.Context, st *State) error {
	m, err := manifest(st)
	if err != nil {
		return err
	}
	uki := filepath.Join(st.Opts.OutDir, st.Plan.Name+".efi")
	if err := os.Rename(st.UKI, uki); err != nil {
		return err
	}
	st.UKI = uki
	if st.Bmap != "" {
		dst := filepath.Join(st.Opts.OutDir, filepath.Base(st.Bmap))
		if err := os.Rename(st.Bmap, dst); err != nil {
			return err
		}
		st.Bmap = dst
	}
	for i := range st.Outputs {
		dst := filepath.Join(st.Opts.OutDir, filepath.Base(st.Outputs[i].File))
		if err := os.Rename(st.Outputs[i].File, dst); err != nil {
			return err
		}
		st.Outputs[i].File = dst
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(ManifestPath(st.Opts.OutDir, st.Plan.Name), append(data, '\n'), 0o644)
}

func (*stepManifest) Cleanup(*State) {}

// ManifestPath is where the manifest of image name lands.
func ManifestPath(outDir, name string) string {
	return filepath.Join(outDir, name+".manifest.json")
}

func manifest(st *State) (*Manifest, error) {
	p := st.Plan
	m := &Manifest{
		Name: p.Name, ImageDigest: p.ImageDigest, Inputs: st.InputsDigest, PackageLayer: st.LayerKey, Profiles: p.Profiles, Release: p.Release,
		Architecture: p.Architecture, Sources: p.Sources, SourceDateEpoch: p.SourceDateEpoch,
		Kernel:  KernelInfo{Package: p.KernelPackage, Version: st.KernelVersion},
		Cmdline: st.Cmdline, Verity: st.Verity, Partitions: st.Partitions, Packages: st.Packages,
		Tools: st.Tools,
	}
	shipping := "linux-image-" + st.KernelVersion
	if d := p.KernelDeb; d != nil {
		shipping = d.Package
		m.Kernel.Deb = &KernelDebInfo{Path: d.Path, SHA256: d.SHA256}
	}
	for _, pkg := range st.Packages {
		if pkg.Name == shipping {
			m.Kernel.PackageVersion = pkg.Version
		}
	}
	fi, err := os.Stat(st.RootImage)
	if err != nil {
		return nil, err
	}
	m.RootFS = Artifact{Type: p.RootFSType, Size: fi.Size(), SHA256: st.RootDigest}
	m.UKI = st.ukiArtifact
	if m.UKI.SHA256 == "" {
		if m.UKI, err = artifact(st.UKI); err != nil {
			return nil, err
		}
	}
	for i := range st.Outputs {
		if st.Outputs[i].Format == "raw" {
			if err := rawOutput(&st.Outputs[i], st.Bmap); err != nil {
				return nil, fmt.Errorf("output raw: %w", err)
			}
		}
		o := st.Outputs[i]
		o.File = filepath.Base(o.File)
		m.Outputs = append(m.Outputs, o)
	}
	return m, nil
}

func artifact(path string) (Artifact, error) {
	sum, size, err := fileSHA256(path)
	return Artifact{Size: size, SHA256: sum}, err
}
