package model

import "time"

// Artifact file types and formats, GitLab's names.
const (
	ArtifactArchive = "archive"

	FormatZip  = "zip"
	FormatGzip = "gzip"
	FormatRaw  = "raw"
)

// ReportTypes are the artifact types a job uploads besides its archive
// (artifacts:reports, plus the coverage formats GitLab files
// coverage_report under).
var ReportTypes = map[string]bool{
	"accessibility": true, "annotations": true, "api_fuzzing": true, "browser_performance": true,
	"cluster_image_scanning": true, "codequality": true, "container_scanning": true,
	"coverage_fuzzing": true, "cyclonedx": true, "dast": true, "dependency_scanning": true,
	"dotenv": true, "junit": true, "license_scanning": true, "load_performance": true,
	"metrics": true, "performance": true, "requirements": true, "requirements_v2": true,
	"repository_xray": true, "sast": true, "secret_detection": true, "terraform": true,
	"cobertura": true, "jacoco": true,
}

// GzipReports are the report types the runner uploads gzipped; the others
// go raw.
var GzipReports = map[string]bool{"junit": true, "dotenv": true, "cobertura": true, "jacoco": true, "metrics": true}

// Artifact is one stored file of a job: its archive or a report. Its
// bytes are a blob; the row is written only once the blob is complete.
type Artifact struct {
	ID        int64
	JobID     int64
	ProjectID int64
	// FileType is archive or a report type; a job has at most one of each.
	FileType   string
	FileFormat string // zip, gzip or raw
	Filename   string // as uploaded, e.g. artifacts.zip
	Size       int64
	SHA256     string
	BlobKey    string
	CreatedAt  time.Time
	// ExpireAt is when the artifact stops being served and becomes the
	// sweeper's; nil keeps it forever (expire_in: never).
	ExpireAt *time.Time
}

// ContentType is how an artifact is served: by its file format.
func (a *Artifact) ContentType() string {
	switch a.FileFormat {
	case FormatZip:
		return "application/zip"
	case FormatGzip:
		return "application/gzip"
	}
	return "application/octet-stream"
}

// Expired reports whether a is past its expiry at now.
func (a *Artifact) Expired(now time.Time) bool {
	return a.ExpireAt != nil && !now.Before(*a.ExpireAt)
}
