package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestRefTag(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"docker.io/library/hello:v1", "v1"},
		{"docker.io/library/hello", "latest"},
		{"localhost:5000/hello", "latest"},
		{"localhost:5000/hello:2", "2"},
		{"hello:latest@sha256:abc", "latest"},
	}
	for _, tc := range tests {
		if got := refTag(tc.ref); got != tc.want {
			t.Errorf("refTag(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

// readTar returns the regular files of a tar stream by name.
func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = data
		}
	}
}

// blobOf returns the blob desc points at, checking its digest and size.
func blobOf(t *testing.T, layout map[string][]byte, desc ocispec.Descriptor) []byte {
	t.Helper()
	data, ok := layout[path.Join("blobs", "sha256", desc.Digest.Encoded())]
	if !ok {
		t.Fatalf("blob %s missing", desc.Digest)
	}
	if digest.FromBytes(data) != desc.Digest || int64(len(data)) != desc.Size {
		t.Fatalf("blob %s: digest or size mismatch", desc.Digest)
	}
	return data
}

func TestBuildImage(t *testing.T) {
	tests := []struct {
		name     string
		build    func(t testing.TB, dir, ref string, files map[string][]byte, entrypoint []string) string
		platform ocispec.Platform
	}{
		{"wasm", BuildWasmImage, WasmPlatform},
		{"native", BuildNativeImage, NativePlatform},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const ref = "docker.io/library/test:v2"
			files := map[string][]byte{"/app/module.wasm": []byte("\x00asm"), "top": []byte("x")}
			tarball := tc.build(t, t.TempDir(), ref, files, []string{"/app/module.wasm"})

			f, err := os.Open(tarball)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			layout := readTar(t, f)
			if _, ok := layout["oci-layout"]; !ok {
				t.Fatal("oci-layout missing")
			}
			var index ocispec.Index
			if err := json.Unmarshal(layout["index.json"], &index); err != nil {
				t.Fatal(err)
			}
			if len(index.Manifests) != 1 {
				t.Fatalf("index has %d manifests", len(index.Manifests))
			}
			m := index.Manifests[0]
			if m.Annotations[AnnotationImageName] != ref || m.Annotations[ocispec.AnnotationRefName] != "v2" {
				t.Errorf("annotations %v", m.Annotations)
			}
			if m.Platform == nil || m.Platform.OS != tc.platform.OS || m.Platform.Architecture != tc.platform.Architecture {
				t.Errorf("index platform %v, want %v", m.Platform, tc.platform)
			}

			var manifest ocispec.Manifest
			if err := json.Unmarshal(blobOf(t, layout, m), &manifest); err != nil {
				t.Fatal(err)
			}
			var config ocispec.Image
			if err := json.Unmarshal(blobOf(t, layout, manifest.Config), &config); err != nil {
				t.Fatal(err)
			}
			if config.OS != tc.platform.OS || config.Architecture != tc.platform.Architecture {
				t.Errorf("config platform %s/%s", config.OS, config.Architecture)
			}
			if len(config.Config.Entrypoint) != 1 || config.Config.Entrypoint[0] != "/app/module.wasm" {
				t.Errorf("entrypoint %v", config.Config.Entrypoint)
			}

			if len(manifest.Layers) != 1 {
				t.Fatalf("%d layers", len(manifest.Layers))
			}
			zr, err := gzip.NewReader(bytes.NewReader(blobOf(t, layout, manifest.Layers[0])))
			if err != nil {
				t.Fatal(err)
			}
			layerTar, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != digest.FromBytes(layerTar) {
				t.Errorf("diff_ids %v do not match the layer", config.RootFS.DiffIDs)
			}
			got := readTar(t, bytes.NewReader(layerTar))
			if len(got) != 2 || string(got["app/module.wasm"]) != "\x00asm" || string(got["top"]) != "x" {
				t.Errorf("layer files %v", got)
			}

			platform, err := archivePlatform(tarball, ref)
			if err != nil || platform != tc.platform.OS+"/"+tc.platform.Architecture {
				t.Errorf("archivePlatform = %q, %v", platform, err)
			}
		})
	}
}

func TestBuildImageIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"a": []byte("1"), "b/c": []byte("2")}
	first, err := os.ReadFile(BuildWasmImage(t, dir, "x:1", files, []string{"/a"}))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(BuildWasmImage(t, dir, "x:1", files, []string{"/a"}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("two builds of the same image differ")
	}
}
