package gate

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ciwarden/ciwarden/internal/authz"
)

// Print writes the route table as `ciwarden routes` shows it: each
// endpoint, the credentials it accepts and how they travel, the job-token
// policy, its target and the permission it needs. REST and runner paths
// are shown below prefix.
func Print(w io.Writer, prefix string, routes []Route) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SURFACE\tMETHOD\tPATH\tPAT\tJOB TOKEN\tOTHER CREDENTIAL\tJOB POLICY\tTARGET\tPERMISSION")
	for _, r := range routes {
		policy := r.Action.Policy
		if policy == "" || r.Accepts.JobToken == 0 {
			policy = "-"
		}
		path := r.Path
		if r.Prefixed() {
			path = prefix + path
		}
		pat, job, other := r.Accepts.Credentials()
		method := r.Method
		if method == "" {
			method = "ANY" // a row that takes every method (the registry's /v2/)
		}
		if r.Action.Name == authz.ServeRegistry.Name {
			other = "registry token (Bearer, from /jwt/auth)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Surface, method, path, pat, job, other, policy, r.Target, r.Action.Name)
	}
	tw.Flush()
}
