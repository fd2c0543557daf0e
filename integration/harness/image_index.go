package harness

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildIndexImage is BuildImage for a multi-platform image: the layout's
// index.json names (AnnotationImageName, ref.name) one image index, which
// holds a manifest for spec.Platform and one for each of also. All manifests
// share spec's single layer; each has a config of its own carrying its
// platform and spec's config fields.
//
// This is how a wasm image serves both worlds, and the shape the CRI tests
// use: clients that ask for wasi/wasm (`ctr run --platform wasi/wasm`,
// `docker run --platform wasi/wasm`) pick the wasi entry, while CRI, which
// pulls and unpacks only the node's platform, picks the linux one. The shim
// runs the module from the container's rootfs and never looks at the
// platform label. Measured with crictl pull from a registry and then
// create/start on containerd 1.6.20 and 2.4.2 (wasitool.wasm echo):
//
//	index {wasi/wasm, linux/amd64}   runs on both
//	single manifest linux/amd64      runs on both (but is not a wasi/wasm image for ctr or docker)
//	single manifest wasi/wasm        1.6 runs it; 2.4 fetches but does not unpack it
//	                                 ("parent snapshot ... does not exist" at CreateContainer)
//	index {wasi/wasm} only           pull fails on both ("no match for platform in manifest")
//
// 2.x's runtime_platforms setting does not help: CRI pulls for the default
// platform whatever the runtime handler (2.4's image_pull.go), and kubelets
// send no handler with PullImage unless RuntimeClassInImageCriApi is on.
func BuildIndexImage(t testing.TB, dir string, spec ImageSpec, also ...ocispec.Platform) string {
	t.Helper()
	if spec.Ref == "" {
		t.Fatal("BuildIndexImage: empty Ref")
	}
	layout, err := buildIndexLayout(spec, append([]ocispec.Platform{spec.Platform}, also...))
	if err != nil {
		t.Fatalf("BuildIndexImage %s: %v", spec.Ref, err)
	}
	out := filepath.Join(dir, archiveName(spec.Ref))
	if err := os.WriteFile(out, layout, 0o644); err != nil {
		t.Fatalf("BuildIndexImage %s: %v", spec.Ref, err)
	}
	return out
}

// buildIndexLayout assembles the layout tarball of BuildIndexImage.
func buildIndexLayout(spec ImageSpec, platformList []ocispec.Platform) ([]byte, error) {
	layerTar, layer, err := gzipLayer(spec.Files)
	if err != nil {
		return nil, err
	}
	blobs := []blob{layer}
	var manifests []ocispec.Descriptor
	for _, p := range platformList {
		config, manifest, err := platformManifest(spec, p, layerTar, layer)
		if err != nil {
			return nil, err
		}
		desc := manifest.desc
		platform := p
		desc.Platform = &platform
		manifests = append(manifests, desc)
		blobs = append(blobs, config, manifest)
	}
	inner, err := newJSONBlob(ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
	if err != nil {
		return nil, err
	}
	return layoutArchive(spec.Ref, inner.desc, append(blobs, inner))
}
