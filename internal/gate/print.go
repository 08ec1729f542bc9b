package gate

import (
	"fmt"
	"io"
	"text/tabwriter"
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Surface, r.Method, path, pat, job, other, policy, r.Target, r.Action.Name)
	}
	tw.Flush()
}
