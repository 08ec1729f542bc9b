package runner

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// transferClient is the HTTP client for artifact bodies: without the
// overall timeout of the protocol calls (an archive may take long; the
// job's context bounds it), and never forwarding the job token to
// another host on a redirect (a download may be sent on to object
// storage).
func (c *Client) transferClient() *http.Client {
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.Timeout = 0
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Job-Token")
		}
		return nil
	}
	return &hc
}

// DownloadArtifacts sends GET /jobs/:id/artifacts with the running job's
// token, following redirects, and copies a 200 body into w. Any other
// status is returned with a nil error, for the caller to judge.
func (c *Client) DownloadArtifacts(ctx context.Context, jobID int64, token string, w io.Writer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL("")+"/jobs/"+strconv.FormatInt(jobID, 10)+"/artifacts", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Job-Token", token)
	req.Header.Set("User-Agent", Version)
	resp, err := c.transferClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, nil
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

// UploadOptions describe one artifacts upload.
type UploadOptions struct {
	FileName string // the multipart file name: artifacts.zip, junit.xml.gz, ...
	Format   string // artifact_format
	Type     string // artifact_type
	ExpireIn string // expire_in, as written in the YAML
	// BaseURL replaces the client's after a 307 to another host.
	BaseURL string
}

// UploadResult is the server's answer to an upload.
type UploadResult struct {
	Status   int
	Location string // for 307 and 308
}

// archiveError: producing the archive failed, not the transfer; no retry
// would help.
type archiveError struct{ err error }

func (e *archiveError) Error() string { return "creating the archive: " + e.err.Error() }
func (e *archiveError) Unwrap() error { return e.err }

// errUploadDone ends the archive writer when the request is over (the
// server may answer, 413 say, before it has read the whole body).
var errUploadDone = errors.New("upload finished")

// UploadArtifacts sends POST /jobs/:id/artifacts: a multipart body with
// one field, `file`, produced by write while it is sent, with chunked
// encoding (no Content-Length). An error from write comes back as an
// *archiveError; a transport error as it is.
func (c *Client) UploadArtifacts(ctx context.Context, jobID int64, token string, opt UploadOptions, write func(io.Writer) error) (UploadResult, error) {
	q := url.Values{}
	if opt.Format != "" {
		q.Set("artifact_format", opt.Format)
	}
	if opt.Type != "" {
		q.Set("artifact_type", opt.Type)
	}
	if opt.ExpireIn != "" {
		q.Set("expire_in", opt.ExpireIn)
	}
	u := c.apiURL(opt.BaseURL) + "/jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	genErr := make(chan error, 1)
	go func() {
		err := func() error {
			part, err := mw.CreateFormFile("file", opt.FileName)
			if err != nil {
				return err
			}
			if err := write(part); err != nil {
				return &archiveError{err}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
		genErr <- err
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, pr)
	if err != nil {
		pr.CloseWithError(errUploadDone)
		<-genErr
		return UploadResult{}, err
	}
	req.ContentLength = -1 // chunked: the size is not known until the end
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Job-Token", token)
	req.Header.Set("User-Agent", Version)
	hc := c.transferClient()
	// The upload's own redirects are answered by sending the body again.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	pr.CloseWithError(errUploadDone)
	gerr := <-genErr
	var ae *archiveError
	if errors.As(gerr, &ae) && !errors.Is(gerr, errUploadDone) {
		if resp != nil {
			resp.Body.Close()
		}
		return UploadResult{}, ae
	}
	if err != nil {
		return UploadResult{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return UploadResult{Status: resp.StatusCode, Location: resp.Header.Get("Location")}, nil
}

// apiURL is the API root on base, or on the client's server.
func (c *Client) apiURL(base string) string {
	if base == "" {
		base = c.BaseURL
	}
	return strings.TrimSuffix(base, "/") + "/api/v4"
}
