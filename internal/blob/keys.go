package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
)

// Key layout. Everything of a project lives under ProjectPrefix, so that
// removing the project removes its blobs with one prefix walk. Object names
// are random rather than derived from rows or user-chosen names: a key is
// written before its row is committed, and a retry or a concurrent upload
// of the same file must never overwrite a published one.
//
//	projects/<project>/artifacts/<job>/<random>
//	projects/<project>/packages/<package>/<random>
//	projects/<project>/terraform/<state>/<random>
//
// On S3 the container registry keeps its own layout beside them under the
// same prefix, registry/ and registry-tails/ (internal/registry), which no
// key of this package may start with.

// ProjectPrefix is the prefix of every blob of a project.
func ProjectPrefix(projectID int64) string {
	return "projects/" + strconv.FormatInt(projectID, 10) + "/"
}

// ArtifactKey names a new artifact blob of a job.
func ArtifactKey(projectID, jobID int64) string {
	return ProjectPrefix(projectID) + "artifacts/" + strconv.FormatInt(jobID, 10) + "/" + randomName()
}

// PackageFileKey names a new file blob of a package.
func PackageFileKey(projectID, packageID int64) string {
	return ProjectPrefix(projectID) + "packages/" + strconv.FormatInt(packageID, 10) + "/" + randomName()
}

func randomName() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// DeletePrefix removes every blob whose key starts with prefix.
func DeletePrefix(ctx context.Context, s Store, prefix string) error {
	for info, err := range s.List(ctx, prefix) {
		if err != nil {
			return err
		}
		if err := s.Delete(ctx, info.Key); err != nil {
			return err
		}
	}
	return nil
}

// TerraformStateKey names a new version blob of a Terraform state.
func TerraformStateKey(projectID, stateID int64) string {
	return ProjectPrefix(projectID) + "terraform/" + strconv.FormatInt(stateID, 10) + "/" + randomName()
}
