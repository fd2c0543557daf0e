package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is the index annotation containerd's importer (ctr
// images import, docker load) takes as the full image name.
const AnnotationImageName = "io.containerd.image.name"

// WasmPlatform is the platform of WebAssembly images: os "wasi", architecture
// "wasm" (the compat convention WasmEdge and runwasi use).
var WasmPlatform = ocispec.Platform{OS: "wasi", Architecture: "wasm"}

// NativePlatform is the platform of images runc can run on this machine.
var NativePlatform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}

// fileTime is the modification time of every layer entry, so that the same
// inputs always produce the same digests.
var fileTime = time.Unix(1700000000, 0).UTC()

// ImageSpec describes a single-layer image for BuildImage.
type ImageSpec struct {
	// Ref is the full image name stored in the archive (for example
	// "docker.io/library/hello-wasm:latest"); ctr uses it verbatim, so pass a
	// fully qualified reference if Docker must find it too.
	Ref string
	// Platform goes into the image config and the index descriptor.
	Platform ocispec.Platform
	// Files maps paths inside the image ("/hello.wasm", "bin/app") to their
	// contents. Every file gets mode 0755 so a native binary is executable;
	// parent directories are created as needed.
	Files map[string][]byte
	// Entrypoint, Cmd, Env and WorkingDir become the image config's fields.
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// Labels become the image config's labels.
	Labels map[string]string
}

// BuildWasmImage writes an OCI image layout tarball for platform wasi/wasm
// into dir and returns its path. files and entrypoint are as in ImageSpec.
func BuildWasmImage(t testing.TB, dir, ref string, files map[string][]byte, entrypoint []string) string {
	t.Helper()
	return BuildImage(t, dir, ImageSpec{Ref: ref, Platform: WasmPlatform, Files: files, Entrypoint: entrypoint})
}

// BuildNativeImage is BuildWasmImage for the machine's own platform
// (linux/GOARCH), for comparisons with runc.
func BuildNativeImage(t testing.TB, dir, ref string, files map[string][]byte, entrypoint []string) string {
	t.Helper()
	return BuildImage(t, dir, ImageSpec{Ref: ref, Platform: NativePlatform, Files: files, Entrypoint: entrypoint})
}

// BuildImage writes spec as an OCI image layout tarball (oci-layout,
// index.json, blobs/sha256/...) with one gzip layer, and returns the tarball's
// path in dir. The index names the image with both AnnotationImageName (the
// full ref) and org.opencontainers.image.ref.name (its tag), and carries the
// platform on the manifest descriptor so importers can filter by platform.
func BuildImage(t testing.TB, dir string, spec ImageSpec) string {
	t.Helper()
	if spec.Ref == "" {
		t.Fatal("BuildImage: empty Ref")
	}
	layout, err := buildLayout(spec)
	if err != nil {
		t.Fatalf("BuildImage %s: %v", spec.Ref, err)
	}
	out := filepath.Join(dir, archiveName(spec.Ref))
	if err := os.WriteFile(out, layout, 0o644); err != nil {
		t.Fatalf("BuildImage %s: %v", spec.Ref, err)
	}
	return out
}

// archiveName turns a ref into a file name that cannot escape dir.
func archiveName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".oci.tar"
}

// blob is one content-addressed file of the layout.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	return blob{
		desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))},
		data: data,
	}
}

func newJSONBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, err
	}
	return newBlob(mediaType, data), nil
}

// buildLayout assembles the image and returns the layout as a tar stream.
func buildLayout(spec ImageSpec) ([]byte, error) {
	layerTar, layer, err := gzipLayer(spec.Files)
	if err != nil {
		return nil, err
	}
	config, manifest, err := platformManifest(spec, spec.Platform, layerTar, layer)
	if err != nil {
		return nil, err
	}
	top := manifest.desc
	platform := spec.Platform
	top.Platform = &platform
	return layoutArchive(spec.Ref, top, []blob{layer, config, manifest})
}

// gzipLayer returns the uncompressed layer tar of files (its digest is the
// diff id) and the gzip blob of it.
func gzipLayer(files map[string][]byte) ([]byte, blob, error) {
	layerTar, err := layerArchive(files)
	if err != nil {
		return nil, blob{}, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(layerTar); err != nil {
		return nil, blob{}, err
	}
	if err := zw.Close(); err != nil {
		return nil, blob{}, err
	}
	return layerTar, newBlob(ocispec.MediaTypeImageLayerGzip, gz.Bytes()), nil
}

// platformManifest returns the config and manifest blobs of spec's image
// for platform, over the one layer.
func platformManifest(spec ImageSpec, platform ocispec.Platform, layerTar []byte, layer blob) (config, manifest blob, err error) {
	created := fileTime
	config, err = newJSONBlob(ocispec.MediaTypeImageConfig, ocispec.Image{
		Created:  &created,
		Platform: platform,
		Config: ocispec.ImageConfig{
			Entrypoint: spec.Entrypoint,
			Cmd:        spec.Cmd,
			Env:        spec.Env,
			WorkingDir: spec.WorkingDir,
			Labels:     spec.Labels,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layerTar)}},
	})
	if err != nil {
		return blob{}, blob{}, err
	}
	manifest, err = newJSONBlob(ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config.desc,
		Layers:    []ocispec.Descriptor{layer.desc},
	})
	return config, manifest, err
}

// layoutArchive writes the OCI layout tar: oci-layout, an index.json naming
// top as ref (AnnotationImageName and its tag as ref.name), and the blobs,
// each once.
func layoutArchive(ref string, top ocispec.Descriptor, blobs []blob) ([]byte, error) {
	top.Annotations = map[string]string{
		AnnotationImageName:       ref,
		ocispec.AnnotationRefName: refTag(ref),
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{top},
	})
	if err != nil {
		return nil, err
	}
	ociLayout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, err
	}

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	dirs := map[string]bool{}
	if err := writeTarFile(tw, dirs, ocispec.ImageLayoutFile, ociLayout, 0o644); err != nil {
		return nil, err
	}
	if err := writeTarFile(tw, dirs, ocispec.ImageIndexFile, index, 0o644); err != nil {
		return nil, err
	}
	written := map[digest.Digest]bool{}
	for _, b := range blobs {
		if written[b.desc.Digest] {
			continue // e.g. identical configs of identical platforms
		}
		written[b.desc.Digest] = true
		name := path.Join(ocispec.ImageBlobsDir, b.desc.Digest.Algorithm().String(), b.desc.Digest.Encoded())
		if err := writeTarFile(tw, dirs, name, b.data, 0o644); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// refTag returns the tag of ref, or "latest" when it has none (a ':' after
// the last '/' starts the tag; one before it belongs to a registry port).
func refTag(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	return "latest"
}

// layerArchive returns an uncompressed tar holding files in sorted order.
func layerArchive(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, name := range names {
		clean := strings.TrimPrefix(path.Clean("/"+name), "/")
		if clean == "" {
			continue
		}
		if err := writeTarFile(tw, dirs, clean, files[name], 0o755); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTarFile writes name with its missing parent directories (remembered in
// dirs) so that unpackers which need explicit directory entries are happy.
func writeTarFile(tw *tar.Writer, dirs map[string]bool, name string, data []byte, mode int64) error {
	var parents []string
	for dir := path.Dir(name); dir != "." && dir != "/" && !dirs[dir]; dir = path.Dir(dir) {
		parents = append(parents, dir)
	}
	for i := len(parents) - 1; i >= 0; i-- {
		dirs[parents[i]] = true
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir, Name: parents[i] + "/", Mode: 0o755, ModTime: fileTime,
		}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: fileTime,
	}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// archivePlatform returns "os/arch[/variant]" of the manifest named ref in
// the index.json of an OCI layout tarball (or of its only manifest).
func archivePlatform(tarball, ref string) (string, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%s: no %s", tarball, ocispec.ImageIndexFile)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", tarball, err)
		}
		if path.Clean(hdr.Name) != ocispec.ImageIndexFile {
			continue
		}
		var index ocispec.Index
		if err := json.NewDecoder(tr).Decode(&index); err != nil {
			return "", fmt.Errorf("%s: %s: %w", tarball, ocispec.ImageIndexFile, err)
		}
		for _, m := range index.Manifests {
			if m.Platform == nil {
				continue
			}
			if m.Annotations[AnnotationImageName] == ref || len(index.Manifests) == 1 {
				p := m.Platform.OS + "/" + m.Platform.Architecture
				if m.Platform.Variant != "" {
					p += "/" + m.Platform.Variant
				}
				return p, nil
			}
		}
		return "", fmt.Errorf("%s: no manifest with a platform for %s", tarball, ref)
	}
}
