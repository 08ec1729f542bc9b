package ci

// TraceStateContext is what a job's sealed trace state is bound to, for
// key rotation (internal/rekey).
func TraceStateContext(jobID int64) []byte { return stateContext(jobID) }
