package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestImageRunsTheStaticBinaryAsNonRoot builds meshdoctor as the release
// does (CGO_ENABLED=0, -s -w), makes the image, and then reads the OCI
// layout back with the standard library only (not go-containerregistry,
// which wrote it): index → manifest of the host's platform → config and
// layer, every blob's digest checked. It unpacks the layer into a root
// filesystem and runs the entrypoint there: as root, chrooted into that
// filesystem as the image's user (which proves the binary needs nothing
// the image lacks: no libc, no loader); otherwise directly.
func TestImageRunsTheStaticBinaryAsNonRoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the image is linux; this is %s", runtime.GOOS)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "meshdoctor")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-s -w -X main.version=v0.0.0-imagetest", "-o", bin, "./cmd/meshdoctor")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build meshdoctor: %v\n%s", err, out)
	}
	assertStaticStripped(t, bin)

	platform := "linux/" + runtime.GOARCH
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	o := Options{Binaries: map[string]string{platform: bin}, Version: "v0.0.0-imagetest", Revision: "abc123",
		Created: created, Repository: "ghcr.io/meshdoctor/meshdoctor"}
	idx, _, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "oci")
	if err := WriteLayout(dir, idx, o); err != nil {
		t.Fatal(err)
	}

	// The layout, as the OCI image spec defines it.
	var marker struct {
		Version string `json:"imageLayoutVersion"`
	}
	readJSONFile(t, filepath.Join(dir, "oci-layout"), &marker)
	if marker.Version != "1.0.0" {
		t.Errorf("oci-layout version %q", marker.Version)
	}
	var top index
	readJSONFile(t, filepath.Join(dir, "index.json"), &top)
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("index.json: %+v, want one image index", top)
	}
	if ref := top.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "ghcr.io/meshdoctor/meshdoctor:v0.0.0-imagetest" {
		t.Errorf("ref.name %q", ref)
	}
	var idxDoc index
	readBlob(t, dir, top.Manifests[0].Digest, &idxDoc)
	var manifestDigest string
	for _, m := range idxDoc.Manifests {
		if m.Platform != nil && m.Platform.OS+"/"+m.Platform.Architecture == platform {
			manifestDigest = m.Digest
		}
	}
	if manifestDigest == "" {
		t.Fatalf("no manifest for %s in %+v", platform, idxDoc)
	}
	var man struct {
		MediaType string       `json:"mediaType"`
		Config    descriptor   `json:"config"`
		Layers    []descriptor `json:"layers"`
	}
	readBlob(t, dir, manifestDigest, &man)
	if man.MediaType != "application/vnd.oci.image.manifest.v1+json" || man.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("manifest media types: %s, config %s", man.MediaType, man.Config.MediaType)
	}
	if len(man.Layers) != 1 || man.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("layers: %+v, want the one binary layer on an empty base", man.Layers)
	}
	var cfg struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Created      time.Time
		Config       struct {
			User       string
			Entrypoint []string
			Env        []string
			WorkingDir string
			Labels     map[string]string
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	readBlob(t, dir, man.Config.Digest, &cfg)
	if cfg.OS+"/"+cfg.Architecture != platform || !cfg.Created.Equal(created) {
		t.Errorf("config platform %s/%s created %v", cfg.OS, cfg.Architecture, cfg.Created)
	}
	if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/usr/local/bin/meshdoctor" {
		t.Errorf("config user %q entrypoint %q", cfg.Config.User, cfg.Config.Entrypoint)
	}
	if cfg.Config.Labels["org.opencontainers.image.version"] != "v0.0.0-imagetest" || cfg.Config.Labels["org.opencontainers.image.revision"] != "abc123" {
		t.Errorf("labels %v", cfg.Config.Labels)
	}

	// Unpack the layer (checking its digest and diff ID) into a rootfs.
	root := filepath.Join(tmp, "rootfs")
	diffID := unpack(t, blobPath(dir, man.Layers[0].Digest), root)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != diffID {
		t.Errorf("diff_ids %v, the layer's uncompressed digest is %s", cfg.RootFS.DiffIDs, diffID)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd: %q, %v", passwd, err)
	}

	entry := filepath.Join(root, cfg.Config.Entrypoint[0])
	cmd := exec.CommandContext(ctx, entry, "version", "-o", "json")
	cmd.Env = cfg.Config.Env
	how := "directly (not root: no chroot)"
	if os.Geteuid() == 0 {
		// In the image's filesystem only, as its user: the binary must
		// need no loader or library, and not root.
		cmd.Path, cmd.Args[0] = cfg.Config.Entrypoint[0], cfg.Config.Entrypoint[0]
		cmd.Dir = cfg.Config.WorkingDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		how = "chrooted into the image's rootfs as 65532:65532"
	}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("run the entrypoint %s: %v\n%s", how, err, ee.Stderr)
	}
	if err != nil {
		t.Fatalf("run the entrypoint %s: %v", how, err)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(out, &v); err != nil || v.Version != "v0.0.0-imagetest" {
		t.Errorf("meshdoctor version -o json in the image: %q, %v", out, err)
	}
	t.Logf("ran the image's entrypoint %s: version %s", how, v.Version)

	// The docker/podman tarball of the same image.
	if runtime.GOARCH == "amd64" {
		tarPath := filepath.Join(tmp, "image.tar")
		if err := run([]string{"-binary", platform + "=" + bin, "-version", "v0.0.0-imagetest", "-created", created.Format(time.RFC3339), "-tarball", tarPath}); err != nil {
			t.Fatal(err)
		}
		var entries []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		readTarJSON(t, tarPath, "manifest.json", &entries)
		if len(entries) != 1 || len(entries[0].RepoTags) != 1 || entries[0].RepoTags[0] != "ghcr.io/meshdoctor/meshdoctor:v0.0.0-imagetest" || len(entries[0].Layers) != 1 {
			t.Errorf("tarball manifest.json: %+v", entries)
		}
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	Manifests     []descriptor `json:"manifests"`
}

func blobPath(dir, digest string) string {
	algo, hexd, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", algo, hexd)
}

// readBlob reads a JSON blob, checking that its content has its digest.
func readBlob(t *testing.T, dir, digest string, v any) {
	t.Helper()
	b, err := os.ReadFile(blobPath(dir, digest))
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256Of(b); got != digest {
		t.Fatalf("blob %s has digest %s", digest, got)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("blob %s: %v", digest, err)
	}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// unpack extracts a gzip'd layer under root (refusing paths that leave
// it) and returns its diff ID (the digest of the uncompressed tar).
func unpack(t *testing.T, blob, root string) string {
	t.Helper()
	compressed, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + filepath.Base(blob); sha256Of(compressed) != got {
		t.Fatalf("layer blob %s has digest %s", got, sha256Of(compressed))
	}
	zr, err := gzip.NewReader(strings.NewReader(string(compressed)))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(zr, h))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, os.FileMode(hdr.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s (type %c)", hdr.Name, hdr.Typeflag)
		}
		if err := os.Chmod(p, os.FileMode(hdr.Mode).Perm()); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := io.Copy(io.Discard, io.TeeReader(zr, h)); err != nil {
		t.Fatal(err)
	}
	// The root filesystem's directories must be traversable by the user.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func readTarJSON(t *testing.T, path, name string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s in %s: %v", name, path, err)
		}
		if hdr.Name == name {
			if err := json.NewDecoder(tr).Decode(v); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// assertStaticStripped: no program interpreter (a dynamic binary names
// its loader) and no symbol table (-s).
func assertStaticStripped(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: dynamically linked", path)
		}
	}
	if s := f.Section(".symtab"); s != nil {
		t.Errorf("%s has a symbol table: not stripped", path)
	}
	if fi, err := os.Stat(path); err == nil {
		t.Logf("static, stripped meshdoctor: %s", fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20)))
	}
}
