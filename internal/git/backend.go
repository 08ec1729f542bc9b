package git

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/gate"
)

// Bounds on git http-backend, which serves one smart-HTTP request as a CGI
// program (RFC 3875). net/http/cgi is not used: it keeps git running after
// the client went away until git next writes, and it refuses chunked
// request bodies (400), which git sends for every push larger than its
// http.postBuffer (1 MiB).
const (
	// backendTimeout bounds one clone, fetch or push.
	backendTimeout = time.Hour
	// maxBackendHeader bounds the CGI header block git answers with.
	maxBackendHeader = 64 << 10
)

// serveBackend runs git http-backend for req, whose URL path is the
// PATH_INFO under GIT_PROJECT_ROOT, with env added to the CGI variables.
// git ends with the request: when the client goes away, when the handler
// returns early, or after backendTimeout; it is always reaped.
func (r *Repos) serveBackend(w http.ResponseWriter, req *http.Request, env []string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(req.Context(), backendTimeout)
	defer cancel()
	cmd := r.command(ctx, "", "http-backend")
	cmd.Env = append(append(cmd.Env, env...), cgiEnv(req)...)
	if req.Body != nil && req.Body != http.NoBody {
		cmd.Stdin = req.Body
	}
	// stderr goes to /dev/null: a pipe would hold the request until every
	// process writing to it ended, a detached git gc --auto included.
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		log.Error("git http-backend: start", "err", err)
		gate.Plain(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	// Kill git before waiting for it on every return: it may be writing
	// a pack nobody reads any more. (After a complete answer git has
	// exited, or is about to, with its work done.)
	defer func() {
		cancel()
		cmd.Wait()
	}()
	br := bufio.NewReaderSize(out, 32<<10)
	status, header, err := readCGIHeader(br)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("git http-backend: response header", "err", err)
			gate.Plain(w, http.StatusBadGateway, "Bad gateway.")
		}
		return
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := br.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			if flusher != nil && br.Buffered() == 0 {
				flusher.Flush() // progress reaches the client as git writes it
			}
		}
		if rerr != nil {
			return
		}
	}
}

// cgiEnv is the request's CGI variables that http-backend reads. Request
// headers are passed only where git needs them: the credentials stay out
// of git's environment.
func cgiEnv(req *http.Request) []string {
	env := []string{
		"GATEWAY_INTERFACE=CGI/1.1",
		"SERVER_PROTOCOL=" + req.Proto,
		"REQUEST_METHOD=" + req.Method,
		"PATH_INFO=" + req.URL.Path,
		"QUERY_STRING=" + req.URL.RawQuery,
		"REMOTE_ADDR=" + remoteHost(req.RemoteAddr),
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		env = append(env, "CONTENT_TYPE="+ct)
	}
	// Without CONTENT_LENGTH (a chunked body) http-backend reads to EOF.
	if req.ContentLength > 0 {
		env = append(env, "CONTENT_LENGTH="+strconv.FormatInt(req.ContentLength, 10))
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "" {
		env = append(env, "HTTP_CONTENT_ENCODING="+ce)
	}
	if p := req.Header.Get("Git-Protocol"); p != "" {
		env = append(env, "HTTP_GIT_PROTOCOL="+p) // protocol v2
	}
	return env
}

func remoteHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

var errBadCGIHeader = errors.New("malformed CGI response header")

// readCGIHeader reads the header block of a CGI response: its Status
// (200 when absent) and the other fields, at most maxBackendHeader bytes;
// br is left at the first byte of the body.
func readCGIHeader(br *bufio.Reader) (int, http.Header, error) {
	h := http.Header{}
	status := http.StatusOK
	read := 0
	for {
		line, err := br.ReadSlice('\n')
		if read += len(line); err != nil || read > maxBackendHeader {
			return 0, nil, errors.Join(errBadCGIHeader, err)
		}
		s := strings.TrimRight(string(line), "\r\n")
		if s == "" {
			return status, h, nil
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			return 0, nil, errBadCGIHeader
		}
		k, v = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v)
		if k != "Status" {
			h.Add(k, v)
			continue
		}
		code, _, _ := strings.Cut(v, " ")
		if status, err = strconv.Atoi(code); err != nil || status < 100 || status > 999 {
			return 0, nil, errBadCGIHeader
		}
	}
}
