package harness

import (
	"encoding/json"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestBuildIndexImage(t *testing.T) {
	tests := []struct {
		name      string
		platforms []ocispec.Platform // spec.Platform first
	}{
		{"wasm-and-native", []ocispec.Platform{WasmPlatform, NativePlatform}},
		{"wasm-only", []ocispec.Platform{WasmPlatform}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const ref = "docker.io/library/multi:v3"
			tarball := BuildIndexImage(t, t.TempDir(), ImageSpec{
				Ref:        ref,
				Platform:   tc.platforms[0],
				Files:      map[string][]byte{"/app.wasm": []byte("\x00asm\x01\x00\x00\x00")},
				Entrypoint: []string{"/app.wasm"},
			}, tc.platforms[1:]...)
			f, err := os.Open(tarball)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			layout := readTar(t, f)

			var top ocispec.Index
			if err := json.Unmarshal(layout["index.json"], &top); err != nil {
				t.Fatal(err)
			}
			if len(top.Manifests) != 1 || top.Manifests[0].MediaType != ocispec.MediaTypeImageIndex {
				t.Fatalf("index.json must name one image index: %+v", top.Manifests)
			}
			named := top.Manifests[0]
			if named.Annotations[AnnotationImageName] != ref || named.Annotations[ocispec.AnnotationRefName] != "v3" {
				t.Errorf("annotations %v", named.Annotations)
			}
			var inner ocispec.Index
			if err := json.Unmarshal(blobOf(t, layout, named), &inner); err != nil {
				t.Fatal(err)
			}
			if len(inner.Manifests) != len(tc.platforms) {
				t.Fatalf("%d manifests, want %d", len(inner.Manifests), len(tc.platforms))
			}
			var layer ocispec.Descriptor
			for i, desc := range inner.Manifests {
				want := tc.platforms[i]
				if desc.Platform == nil || desc.Platform.OS != want.OS || desc.Platform.Architecture != want.Architecture {
					t.Errorf("manifest %d platform %v, want %v", i, desc.Platform, want)
				}
				var manifest ocispec.Manifest
				if err := json.Unmarshal(blobOf(t, layout, desc), &manifest); err != nil {
					t.Fatal(err)
				}
				var config ocispec.Image
				if err := json.Unmarshal(blobOf(t, layout, manifest.Config), &config); err != nil {
					t.Fatal(err)
				}
				if config.OS != want.OS || config.Architecture != want.Architecture {
					t.Errorf("manifest %d config platform %s/%s, want %s/%s", i, config.OS, config.Architecture, want.OS, want.Architecture)
				}
				if len(config.Config.Entrypoint) != 1 || config.Config.Entrypoint[0] != "/app.wasm" {
					t.Errorf("manifest %d entrypoint %v", i, config.Config.Entrypoint)
				}
				if len(manifest.Layers) != 1 {
					t.Fatalf("manifest %d has %d layers", i, len(manifest.Layers))
				}
				blobOf(t, layout, manifest.Layers[0])
				if i > 0 && manifest.Layers[0].Digest != layer.Digest {
					t.Errorf("manifest %d layer %s, manifest 0 has %s: platforms must share the layer", i, manifest.Layers[0].Digest, layer.Digest)
				}
				layer = manifest.Layers[0]
			}
		})
	}
}
