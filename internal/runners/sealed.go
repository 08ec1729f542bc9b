package runners

// BuiltinTokenContext is what a replica's sealed built-in runner token is
// bound to, for key rotation (internal/rekey).
func BuiltinTokenContext(replica string) []byte { return sealContext(replica) }
