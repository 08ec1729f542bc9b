package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestArtifactsBrowse: a job's artifacts archive is browsable by
// directory, each file has a page and a raw download, and nothing in it
// can run as a page of the site (issue 19 item 3).
func TestArtifactsBrowse(t *testing.T) {
	t.Parallel()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		alice := userWithPassword(t, s, "alice", "alice's password")
		userWithPassword(t, s, "bob", "bob's password")
		grp := s.CreateGroup(t, "team", 0, "private")
		app := s.CreateProject(t, grp, "app", "private")
		s.AddMember(t, "groups", grp, alice.ID, 30)
		s.PushCI(t, app.Path, alice, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
		const html = "<script>alert(document.cookie)</script>\n"
		archive := testserver.Zip(t, map[string]string{
			"report.txt":        "the report\n",
			"out/":              "", // an explicit directory entry; out/deep/ is only implied
			"out/page.html":     html,
			"out/deep/data.bin": "\x00\x01\x02binary",
			"out/a #b?.txt":     "odd name\n",
		})
		job := runWithArchive(t, s, "", archive)

		b := newBrowser(t, s)
		b.signIn("alice", "alice's password")
		jobPage := "/" + app.Path + "/-/jobs/" + testserver.Itoa(job.ID)
		base := jobPage + "/artifacts"
		mustContain(t, b.get(jobPage), `href="`+base+`/browse" id="browse-artifacts">Browse</a>`)

		// The root: the directory first, then the file with its size.
		root := b.get(base + "/browse")
		if root.Status != http.StatusOK {
			t.Fatalf("browse root: %d\n%s", root.Status, root.Body)
		}
		mustContain(t, root, `<a href="`+base+`/browse/out">out/</a>`, `<a href="`+base+`/file/report.txt">report.txt</a></td><td>11 bytes`)
		if strings.Index(root.Body, ">out/<") > strings.Index(root.Body, ">report.txt<") {
			t.Errorf("browse root lists files before directories:\n%s", root.Body)
		}
		if strings.Contains(root.Body, "page.html") {
			t.Errorf("browse root lists a file of out/:\n%s", root.Body)
		}
		// A subdirectory: its implied subdirectory, its files (names
		// escaped in links), and the path back to the root.
		out := b.get(base + "/browse/out")
		if out.Status != http.StatusOK {
			t.Fatalf("browse out: %d\n%s", out.Status, out.Body)
		}
		mustContain(t, out, `<a href="`+base+`/browse/out/deep">deep/</a>`,
			`<a href="`+base+`/file/out/page.html">page.html</a></td><td>40 bytes`,
			`<a href="`+base+`/file/out/a%20%23b%3F.txt">a #b?.txt</a>`,
			`<a href="`+base+`/browse">artifacts</a> / <a href="`+base+`/browse/out">out</a>`)
		if strings.Contains(out.Body, "report.txt") {
			t.Errorf("browse out lists a file of the root:\n%s", out.Body)
		}
		mustContain(t, b.get(base+"/browse/out/deep"), `<a href="`+base+`/file/out/deep/data.bin">data.bin</a></td><td>9 bytes`)

		// A file's page shows short text, escaped; a binary file only its link.
		mustContain(t, b.get(base+"/file/report.txt"), `<pre class="log" id="artifact-text" tabindex="0" aria-label="File contents">the report`+"\n</pre>",
			`href="`+base+`/raw/report.txt" id="raw-artifact"`)
		pg := b.get(base + "/file/out/page.html")
		mustContain(t, pg, "&lt;script&gt;alert(document.cookie)&lt;/script&gt;")
		if pg.Status != http.StatusOK || strings.Contains(pg.Body, "<script>alert") {
			t.Errorf("file page of an HTML file: %d, renders it:\n%s", pg.Status, pg.Body)
		}
		mustContain(t, b.get(base+"/file/out/deep/data.bin"), "binary or too large", `href="`+base+`/raw/out/deep/data.bin"`)

		// Raw: the bytes as stored; text as text/plain, the rest as an
		// attachment; never a type the browser renders.
		for _, c := range []struct{ path, body, ctype, disposition string }{
			{"report.txt", "the report\n", "text/plain; charset=utf-8", ""},
			{"out/page.html", html, "text/plain; charset=utf-8", ""},
			{"out/a%20%23b%3F.txt", "odd name\n", "text/plain; charset=utf-8", ""},
			{"out/deep/data.bin", "\x00\x01\x02binary", "application/octet-stream", `attachment; filename=data.bin`},
		} {
			p := b.get(base + "/raw/" + c.path)
			if p.Status != http.StatusOK || p.Body != c.body {
				t.Errorf("raw %s: %d %q, want 200 %q", c.path, p.Status, p.Body, c.body)
			}
			h := p.Header
			if h.Get("Content-Type") != c.ctype || h.Get("Content-Disposition") != c.disposition ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != "default-src 'none'; sandbox" {
				t.Errorf("raw %s: headers %v, want Content-Type %q, Content-Disposition %q, nosniff and a sandbox CSP", c.path, h, c.ctype, c.disposition)
			}
		}

		// Missing paths: 404, whichever page names them.
		for _, p := range []string{"/browse/nope", "/browse/report.txt", "/file/nope.txt", "/file/out", "/raw/out/deep", "/raw/out/nope.html"} {
			if got := b.get(base + p); got.Status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, got.Status)
			}
		}
		// A path no artifact can have (a backslash, refused at upload): 400.
		if got := b.get(base + "/raw/out%5Cpage.html"); got.Status != http.StatusBadRequest {
			t.Errorf("GET raw with a backslash: %d, want 400", got.Status)
		}
		// Someone who cannot see the private project: 404 on every page.
		bob := newBrowser(t, s)
		bob.signIn("bob", "bob's password")
		for _, p := range []string{"/browse", "/browse/out", "/file/report.txt", "/raw/report.txt"} {
			if got := bob.get(base + p); got.Status != http.StatusNotFound || strings.Contains(got.Body, "the report") {
				t.Errorf("non-member GET %s: %d, want 404", p, got.Status)
			}
		}
	})
}

// runWithArchive runs the next pending job on a new instance runner: it
// writes log, uploads archive as its artifacts archive, and succeeds.
func runWithArchive(t *testing.T, s *testserver.Server, log string, archive []byte) *testserver.RunningJob {
	t.Helper()
	_, runnerToken := s.CreateRunner(t, nil)
	job := s.NewRunnerClient(runnerToken).TakeJob(t)
	job.Start(t)
	if log != "" {
		job.AppendTrace(t, log)
	}
	testserver.WantStatus(t, s.UploadArtifact(t, job.ID, job.Token, "artifact_format=zip&artifact_type=archive", archive, false), http.StatusCreated)
	job.Finish(t, "success")
	return job
}

// TestBrowserArtifactsBrowse: in a real browser, from the job page to a
// directory, a file and its raw bytes; an HTML file's raw download shows
// its source and runs none of its script.
func TestBrowserArtifactsBrowse(t *testing.T) {
	t.Parallel()
	chromium(t)
	s := testserver.New(t, testserver.Options{})
	alice := userWithPassword(t, s, "alice", "alice's password")
	grp := s.CreateGroup(t, "team", 0, "private")
	app := s.CreateProject(t, grp, "app", "private")
	s.AddMember(t, "groups", grp, alice.ID, 30)
	s.PushCI(t, app.Path, alice, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	job := runWithArchive(t, s, "hi\n", testserver.Zip(t, map[string]string{
		"report.txt":    "the report\n",
		"out/page.html": `<b>bold</b><script>document.title = "pwned"</script>`,
	}))
	b := newTab(t, s)
	b.signIn("alice", "alice's password")
	b.open("/" + app.Path + "/-/jobs/" + testserver.Itoa(job.ID))
	b.clickAndWait("#browse-artifacts")
	b.sees("out/", "report.txt", "11 bytes")
	b.screenshot("artifacts_browse")
	b.clickAndWait(`#artifact-entries a[href$="/browse/out"]`)
	b.sees("page.html", "52 bytes")
	b.clickAndWait(`#artifact-entries a[href$="/file/out/page.html"]`)
	b.sees(`<b>bold</b><script>document.title = "pwned"</script>`)
	b.screenshot("artifact_file")
	b.clickAndWait("#raw-artifact")
	b.sees(`<b>bold</b><script>document.title = "pwned"</script>`)
	if title := get(b, "read the title", chromedp.Title()); title == "pwned" {
		t.Errorf("the raw HTML artifact ran its script in the browser")
	}
}
