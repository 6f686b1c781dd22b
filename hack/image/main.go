// Command image builds meshdoctor's container image without a registry or a
// daemon: the static linux binaries GoReleaser built, on an empty base, run
// as a non-root user, written as an OCI image layout (one index, a manifest
// per platform) and, for linux/amd64, as a tarball that `docker load` and
// `podman load` read.
//
//	cd hack/image && go run . -dist ../../dist -oci ../../dist/image -tarball ../../dist/meshdoctor-image.tar
//
// The binaries come from dist/artifacts.json (make release-snapshot), or
// are named with -binary linux/amd64=PATH (repeatable).
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's layout: the binary, and a passwd/group naming the user it
// runs as (distroless's nonroot, 65532), whose home is its working
// directory. Nothing else: no shell, no libc, no CA bundle (meshdoctor
// verifies API servers with the CAs of its kubeconfigs or of the pod's
// service account).
const (
	binaryPath = "usr/local/bin/meshdoctor"
	uid        = 65532
	home       = "home/nonroot"
	listenPort = "9090/tcp"
)

// Options is what one image build needs.
type Options struct {
	// Binaries maps a platform ("linux/amd64") to a static meshdoctor.
	Binaries map[string]string
	Version  string
	Revision string
	// Created is the image's time (the commit's, for reproducible images).
	Created time.Time
	// Repository names the image in the tarball and the layout.
	Repository string
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

type binaryFlags map[string]string

func (b binaryFlags) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binaryFlags) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || !strings.HasPrefix(platform, "linux/") || path == "" {
		return fmt.Errorf("%q: want linux/ARCH=PATH", v)
	}
	b[platform] = path
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	bins := binaryFlags{}
	fs.Var(bins, "binary", "linux/ARCH=PATH of a static meshdoctor (repeatable)")
	dist := fs.String("dist", "", "GoReleaser's dist directory: take the linux binaries, version and commit from its artifacts.json and metadata.json")
	oci := fs.String("oci", "", "write an OCI image layout (all platforms) into this directory")
	tarPath := fs.String("tarball", "", "write a docker/podman-loadable tarball of the linux/amd64 image here")
	o := Options{Binaries: bins}
	fs.StringVar(&o.Version, "version", "", "image version (default: from -dist)")
	fs.StringVar(&o.Revision, "revision", "", "source commit (default: from -dist)")
	created := fs.String("created", "", "image creation time, RFC 3339 (default: from -dist, else the Unix epoch)")
	fs.StringVar(&o.Repository, "repository", "ghcr.io/meshdoctor/meshdoctor", "image repository")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dist != "" {
		if err := fromDist(*dist, &o, *created == ""); err != nil {
			return err
		}
	}
	if *created != "" {
		t, err := time.Parse(time.RFC3339, *created)
		if err != nil {
			return fmt.Errorf("-created: %w", err)
		}
		o.Created = t
	}
	if len(o.Binaries) == 0 {
		return errors.New("no binaries: use -dist or -binary")
	}
	if *oci == "" && *tarPath == "" {
		return errors.New("nothing to write: use -oci and/or -tarball")
	}
	idx, images, err := Build(o)
	if err != nil {
		return err
	}
	if *oci != "" {
		if err := WriteLayout(*oci, idx, o); err != nil {
			return err
		}
		fmt.Printf("image: wrote OCI layout %s (%s)\n", *oci, strings.Join(platforms(images), ", "))
	}
	if *tarPath != "" {
		img, ok := images["linux/amd64"]
		if !ok {
			return errors.New("-tarball: no linux/amd64 binary")
		}
		tag, err := name.NewTag(o.Repository + ":" + tagOf(o.Version))
		if err != nil {
			return fmt.Errorf("image name: %w", err)
		}
		if err := tarball.WriteToFile(*tarPath, tag, img); err != nil {
			return fmt.Errorf("write tarball: %w", err)
		}
		fmt.Printf("image: wrote %s (%s, linux/amd64)\n", *tarPath, tag)
	}
	return nil
}

// tagOf makes a version a valid tag: a snapshot's "0.1.1-next+abc" has a
// "+", which tags do not allow.
func tagOf(v string) string {
	if v == "" {
		return "dev"
	}
	return strings.NewReplacer("+", "-", "/", "-").Replace(v)
}

func platforms(images map[string]v1.Image) []string {
	var out []string
	for p := range images {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// fromDist reads GoReleaser's dist/artifacts.json (the linux binaries of
// build meshdoctor) and metadata.json (version, commit, date).
func fromDist(dir string, o *Options, wantCreated bool) error {
	var arts []struct {
		Path   string `json:"path"`
		Goos   string `json:"goos"`
		Goarch string `json:"goarch"`
		Type   string `json:"type"`
		Extra  struct {
			ID string `json:"ID"`
		} `json:"extra"`
	}
	if err := readJSON(filepath.Join(dir, "artifacts.json"), &arts); err != nil {
		return err
	}
	for _, a := range arts {
		if a.Type == "Binary" && a.Goos == "linux" && a.Extra.ID == "meshdoctor" {
			p := a.Path
			if !filepath.IsAbs(p) {
				// Paths are relative to the project root, dist's parent.
				p = filepath.Join(dir, "..", p)
			}
			o.Binaries["linux/"+a.Goarch] = p
		}
	}
	var meta struct {
		Version string    `json:"version"`
		Commit  string    `json:"commit"`
		Date    time.Time `json:"date"`
	}
	if err := readJSON(filepath.Join(dir, "metadata.json"), &meta); err != nil {
		return err
	}
	if o.Version == "" {
		o.Version = meta.Version
	}
	if o.Revision == "" {
		o.Revision = meta.Commit
	}
	if wantCreated {
		o.Created = meta.Date
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read GoReleaser output: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// Build makes one image per platform and the index of them.
func Build(o Options) (v1.ImageIndex, map[string]v1.Image, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	images := map[string]v1.Image{}
	keys := make([]string, 0, len(o.Binaries))
	for p := range o.Binaries {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		img, err := image(o, p, o.Binaries[p])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		images[p] = img
		osName, arch, _ := strings.Cut(p, "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}}})
	}
	return idx, images, nil
}

// image is the binary on an empty base.
func image(o Options, platform, binary string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	layerTar, err := rootfs(bin, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "hack/image: " + binaryPath + " on an empty base", Comment: "meshdoctor " + o.Version}})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	osName, arch, _ := strings.Cut(platform, "/")
	cf.OS, cf.Architecture = osName, arch
	cf.Created = v1.Time{Time: o.Created}
	labels := map[string]string{
		"org.opencontainers.image.title":       "meshdoctor",
		"org.opencontainers.image.description": "Diagnose why traffic does not cross clusters in a multi-cluster Istio mesh",
		"org.opencontainers.image.source":      "https://github.com/meshdoctor/meshdoctor",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
	}
	cf.Config = v1.Config{
		Entrypoint:   []string{"/" + binaryPath},
		User:         fmt.Sprintf("%d:%d", uid, uid),
		WorkingDir:   "/" + home,
		Env:          []string{"HOME=/" + home, "PATH=/usr/local/bin"},
		ExposedPorts: map[string]struct{}{listenPort: {}},
		Labels:       labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: o.Created})
	if err != nil {
		return nil, fmt.Errorf("set created: %w", err)
	}
	return img, nil
}

// rootfs is the image's one layer, with fixed times and owners so that the
// same binary gives the same digest.
func rootfs(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/%s:/sbin/nologin\n", uid, uid, home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)
	for _, step := range []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(home, 0o700, uid) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(binaryPath, 0o755, bin) },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("layer tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteLayout writes idx as an OCI image layout: index.json names the
// image index (annotated with the image's name), blobs/ holds the rest.
func WriteLayout(dir string, idx v1.ImageIndex, o Options) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout: %w", err)
	}
	ref := o.Repository + ":" + tagOf(o.Version)
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref,
		"io.containerd.image.name":          ref,
	})); err != nil {
		return fmt.Errorf("OCI layout: %w", err)
	}
	return nil
}
