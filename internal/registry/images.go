package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/ciwarden/ciwarden/internal/model"
)

// images reads and deletes what the registry stores, through the
// Distribution storage layer on the same driver (the registry API and
// project deletion; the registry's HTTP API is for clients).
type images struct {
	ns distribution.Namespace
}

func newImages(ctx context.Context, driver storagedriver.StorageDriver) (*images, error) {
	ns, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return nil, err
	}
	return &images{ns: ns}, nil
}

// TagInfo is what the registry API tells of one tag.
type TagInfo struct {
	Name string
	// Digest is the manifest's; Revision the config's (GitLab's
	// revision); TotalSize the config's and layers' sizes.
	Digest    string
	Revision  string
	TotalSize int64
	CreatedAt *time.Time
}

func (im *images) repo(ctx context.Context, path string) (distribution.Repository, error) {
	named, err := reference.WithName(path)
	if err != nil {
		return nil, fmt.Errorf("%w: image path %q", model.ErrInvalid, path)
	}
	return im.ns.Repository(ctx, named)
}

// Tags is a repository's tag names, sorted; none when it has no image.
func (im *images) Tags(ctx context.Context, path string) ([]string, error) {
	r, err := im.repo(ctx, path)
	if err != nil {
		return nil, err
	}
	tags, err := r.Tags(ctx).All(ctx)
	var unknown distribution.ErrRepositoryUnknown
	if errors.As(err, &unknown) {
		return nil, nil
	}
	slices.Sort(tags)
	return tags, err
}

// Tag describes one tag; model.ErrNotFound when there is none.
func (im *images) Tag(ctx context.Context, path, tag string) (*TagInfo, error) {
	r, err := im.repo(ctx, path)
	if err != nil {
		return nil, err
	}
	desc, err := r.Tags(ctx).Get(ctx, tag)
	if err != nil {
		var unknown distribution.ErrTagUnknown
		var repoUnknown distribution.ErrRepositoryUnknown
		if errors.As(err, &unknown) || errors.As(err, &repoUnknown) {
			return nil, model.Refuse(model.ErrNotFound, "Tag")
		}
		return nil, err
	}
	info := &TagInfo{Name: tag, Digest: desc.Digest.String()}
	ms, err := r.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	m, err := ms.Get(ctx, desc.Digest)
	if err != nil {
		return info, nil // a tag whose manifest is gone: name and digest only
	}
	for _, ref := range m.References() {
		info.TotalSize += ref.Size
		// The image's config: OCI's ...config.v1+json, Docker's
		// ...container.image.v1+json.
		if (strings.Contains(ref.MediaType, "config") || strings.Contains(ref.MediaType, "container.image")) && info.Revision == "" {
			info.Revision = ref.Digest.Encoded()
			info.CreatedAt = configCreated(ctx, r, ref.Digest)
		}
	}
	return info, nil
}

// configCreated reads an image config's "created", bounded: configs are
// small, and one that is not is not read.
func configCreated(ctx context.Context, r distribution.Repository, d digest.Digest) *time.Time {
	const maxConfig = 1 << 20
	desc, err := r.Blobs(ctx).Stat(ctx, d)
	if err != nil || desc.Size > maxConfig {
		return nil
	}
	b, err := r.Blobs(ctx).Get(ctx, d)
	if err != nil {
		return nil
	}
	var c struct {
		Created *time.Time `json:"created"`
	}
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c.Created
}

// DeleteTag removes a tag (its blobs stay until `ciwarden registry gc`).
func (im *images) DeleteTag(ctx context.Context, path, tag string) error {
	r, err := im.repo(ctx, path)
	if err != nil {
		return err
	}
	err = r.Tags(ctx).Untag(ctx, tag)
	var unknown distribution.ErrTagUnknown
	if errors.As(err, &unknown) {
		return model.Refuse(model.ErrNotFound, "Tag")
	}
	return err
}

// DeleteRepository removes a repository's tags and manifests links; a
// repository with nothing stored is no error.
func (im *images) DeleteRepository(ctx context.Context, path string) error {
	named, err := reference.WithName(path)
	if err != nil {
		return fmt.Errorf("%w: image path %q", model.ErrInvalid, path)
	}
	err = im.ns.(distribution.RepositoryRemover).Remove(ctx, named)
	var unknown distribution.ErrRepositoryUnknown
	var missing storagedriver.PathNotFoundError
	if errors.As(err, &unknown) || errors.As(err, &missing) {
		return nil
	}
	return err
}
